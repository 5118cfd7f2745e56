"""Peak resident memory of the benchmark's processes: the Python driver and the Spark JVM.

Linux only (``/proc``). Each step's peak is measured two ways and the larger is kept:
``VmHWM`` after resetting it at the step's start (writing ``5`` to ``/proc/<pid>/clear_refs``,
Linux >= 4.0, own processes), and a background sampler of ``VmRSS`` (every 0.1 s) for kernels
or containers where the reset is refused. A JVM rarely returns heap to the OS, so a later
step's peak is never below an earlier step's resident set: read per-step JVM peaks as
"memory held by then", and the run's maximum as the footprint of a day.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its reaped children (``/proc/<pid>/stat``).

    On a machine shared with other work, CPU seconds are a steadier measure of a step's
    cost than wall time (which includes waiting for a core)."""
    try:
        fields = _stat_rest(Path(f"/proc/{pid}"))
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    except (OSError, ValueError, IndexError):
        return 0.0
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and every live descendant: for the JVM this includes the
    PySpark Python workers (pandas UDFs) it forks."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                children.setdefault(int(_stat_rest(proc)[1]), []).append(int(proc.name))
            except (OSError, ValueError, IndexError):
                continue
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += cpu_seconds(p)
        todo.extend(children.get(p, []))
    return total


def _reset_hwm(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def spark_jvm_pid(parent: int | None = None) -> int | None:
    """The pid of the java child of ``parent`` (the py4j gateway PySpark launched)."""
    parent = parent or os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int(_stat_field(proc, 4))  # field 4 of /proc/<pid>/stat
            if ppid != parent:
                continue
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if cmd and (cmd[0] == b"java" or cmd[0].endswith(b"/java")):
            return int(proc.name)
        # spark-submit wraps java in a shell script: look one level deeper
        child = spark_jvm_pid(int(proc.name)) if b"spark-submit" in b" ".join(cmd) else None
        if child:
            return child
    return None


def _stat_rest(proc: Path) -> list[str]:
    """Fields 3.. of ``/proc/<pid>/stat`` (the command name, field 2, may hold spaces)."""
    raw = (proc / "stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def _stat_field(proc: Path, index: int) -> str:
    return _stat_rest(proc)[index - 3]


@dataclass
class PeakMeter:
    """Per-interval peak RSS (MiB) of a set of pids, by VmHWM reset plus sampling."""

    pids: dict[str, int]
    interval_s: float = 0.1
    _peaks: dict[str, int] = field(default_factory=dict)
    _cpu0: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    hwm_reset_ok: bool = True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._sample, name="peak-meter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._lock:
                for name, pid in self.pids.items():
                    self._peaks[name] = max(self._peaks.get(name, 0), _status_kib(pid, "VmRSS"))

    @staticmethod
    def _cpu(name: str, pid: int) -> float:
        # the JVM's tree holds the Python workers; the driver's own tree holds the JVM, so not that
        return tree_cpu_seconds(pid) if name == "jvm" else cpu_seconds(pid)

    def begin(self) -> None:
        """Start a new interval (a step)."""
        with self._lock:
            self._peaks = {name: _status_kib(pid, "VmRSS") for name, pid in self.pids.items()}
            self._cpu0 = {name: self._cpu(name, pid) for name, pid in self.pids.items()}
            for pid in self.pids.values():
                self.hwm_reset_ok = _reset_hwm(pid) and self.hwm_reset_ok

    def end(self) -> dict[str, float]:
        """Peak MiB (``<name>``) and CPU seconds (``<name>_cpu_s``) per process since :meth:`begin`."""
        with self._lock:
            out = {}
            for name, pid in self.pids.items():
                hwm = _status_kib(pid, "VmHWM") if self.hwm_reset_ok else 0
                out[name] = round(max(hwm, self._peaks.get(name, 0), _status_kib(pid, "VmRSS")) / 1024, 1)
                out[f"{name}_cpu_s"] = round(self._cpu(name, pid) - self._cpu0.get(name, 0.0), 2)
            return out
