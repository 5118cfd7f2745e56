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
            ppid = int(_stat_field(proc, 3))
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


def _stat_field(proc: Path, index: int) -> str:
    raw = (proc / "stat").read_text()
    # the command name (field 2) may hold spaces: split after its closing parenthesis
    rest = raw[raw.rindex(")") + 2 :].split()
    return rest[index - 3]


@dataclass
class PeakMeter:
    """Per-interval peak RSS (MiB) of a set of pids, by VmHWM reset plus sampling."""

    pids: dict[str, int]
    interval_s: float = 0.1
    _peaks: dict[str, int] = field(default_factory=dict)
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

    def begin(self) -> None:
        """Start a new interval (a step)."""
        with self._lock:
            self._peaks = {name: _status_kib(pid, "VmRSS") for name, pid in self.pids.items()}
            for pid in self.pids.values():
                self.hwm_reset_ok = _reset_hwm(pid) and self.hwm_reset_ok

    def end(self) -> dict[str, float]:
        """Peak MiB per process name since :meth:`begin`."""
        with self._lock:
            out = {}
            for name, pid in self.pids.items():
                hwm = _status_kib(pid, "VmHWM") if self.hwm_reset_ok else 0
                out[name] = round(max(hwm, self._peaks.get(name, 0), _status_kib(pid, "VmRSS")) / 1024, 1)
            return out
