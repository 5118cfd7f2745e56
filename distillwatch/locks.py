"""The day lease of the daily run: one run of a day of one lakehouse at a time, on a local
folder or on object storage alike.

Semantics (docs/object-storage.md):

- The leases of day D live in ``<locks>/daily-D/`` (``locks.dir``, default
  ``<lakehouse>/_locks``) as numbered files ``lease-000000.json``, ``lease-000001.json``...;
  the highest number is the day's current lease. A file holds its holder's token, host, pid,
  and ``expires`` (epoch seconds).
- **Acquire**: read the current lease. If it is live (not released, not expired, its process
  not known dead), refuse with a :class:`UserError` naming the holder and the file. Else
  create the next number with a create-if-absent: ``O_EXCL`` on a local or POSIX file
  system, a PUT with ``If-None-Match: *`` on S3 (``s3a://``), the connector's own
  create-if-absent elsewhere. Of two runs racing for a number exactly one creates it; the
  other refuses.
- **Renew**: a background thread rewrites the holder's own file every
  ``locks.renew_seconds`` with ``expires = now + locks.lease_seconds``, after checking that
  no higher number exists. When one does (another run took the day over after this lease
  expired: the holder was paused or partitioned for longer than the lease), the lease is
  lost and the run stops before its next step (:meth:`Lease.check`).
- **Release**: the holder marks its file ``released``. Files are never deleted, so numbers
  only grow and a slow run can never create a number another run already holds.
- **Takeover**: a released lease, an expired one (a killed run on another host blocks the day
  for at most ``locks.lease_seconds``), or one whose process is gone on this host (at once).
- Expiry compares the holder's clock with the reader's: hosts must agree to well within
  ``locks.lease_seconds`` (NTP does). Each table commit is atomic on its own (Delta); the
  lease keeps two runs from interleaving a day's steps.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyspark.sql import SparkSession

from distillwatch import files
from distillwatch.config import LocksConf
from distillwatch.errors import UserError
from distillwatch.lakehouse import Lakehouse
from distillwatch.storage import under

log = logging.getLogger(__name__)

_LEASE = re.compile(r"lease-(\d+)\.json")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_name(number: int) -> str:
    return f"lease-{number:06d}.json"


def _numbers(names: list[str]) -> list[int]:
    return sorted(int(m.group(1)) for n in names if (m := _LEASE.fullmatch(n)))


def _takeover_reason(held: dict[str, Any], now: float, host: str) -> str | None:
    """Why the lease ``held`` may be taken over, None while it is live."""
    if held.get("released"):
        return "released"
    if float(held.get("expires", now + 1)) < now:
        return f"expired at {_stamp(float(held['expires']))}"
    if held.get("host") == host and held.get("pid") and not _pid_alive(int(held["pid"])):
        return f"its process (pid {held['pid']}) is gone"
    return None


def _stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


class Lease:
    """One run's hold on one day; renewed by a background thread until released."""

    def __init__(
        self, spark: SparkSession, folder: str, number: int, record: dict[str, Any], conf: LocksConf
    ):
        self.spark = spark
        self.folder = folder
        self.number = number
        self.record = record
        self.conf = conf
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{record['day']}", daemon=True)

    @property
    def path(self) -> str:
        return f"{self.folder}/{lease_name(self.number)}"

    def check(self) -> None:
        """Raise :class:`UserError` when the lease was lost (another run holds the day now)."""
        if self.lost:
            raise UserError(f"lost the lease on {self.record['day']} ({self.path}): {self.lost}; stopping")

    def renew(self) -> None:
        """Extend the lease, unless another run has taken the day over since."""
        newer = [n for n in _numbers(files.list_names(self.spark, self.folder)) if n > self.number]
        if newer:
            taker = _read(self.spark, f"{self.folder}/{lease_name(max(newer))}")
            self.lost = f"run {taker.get('owner')} on {taker.get('host')} took the day over"
            return
        now = time.time()
        self.record.update(renewed=now, expires=now + self.conf.lease_seconds)
        files.write_text(self.spark, self.path, json.dumps(self.record))

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.conf.renew_seconds):
            try:
                self.renew()
            except Exception as exc:  # a transient storage error: retry until the lease runs out
                log.warning("could not renew the lease %s: %s", self.path, exc)
                if time.time() > float(self.record["expires"]):
                    self.lost = f"could not renew it before it expired ({exc})"
            if self.lost:
                log.error("lease %s lost: %s", self.path, self.lost)
                return

    def start(self) -> None:
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=max(5.0, float(self.conf.renew_seconds)))
        if self.lost:
            return
        self.record.update(released=True, expires=time.time())
        try:
            files.write_text(self.spark, self.path, json.dumps(self.record))
        except Exception as exc:  # it expires on its own
            log.warning("could not release the lease %s (it expires by itself): %s", self.path, exc)


def _read(spark: SparkSession, location: str) -> dict[str, Any]:
    try:
        text = files.read_text(spark, location)
        held = json.loads(text) if text else {}
    except (OSError, ValueError):
        held = {}
    return held if isinstance(held, dict) else {}


def _refusal(day: dt.date, held: dict[str, Any], location: str) -> UserError:
    expires = f", lease expires {_stamp(float(held['expires']))} unless renewed" if "expires" in held else ""
    return UserError(
        f"another distillwatch run holds {day.isoformat()} (pid {held.get('pid')} on {held.get('host')}{expires}; "
        f"lease {location}); refusing to run the same day twice at once"
    )


def acquire(spark: SparkSession, folder: str, day: dt.date, conf: LocksConf) -> Lease:
    """Take the lease of ``day`` under ``folder`` (see the module docstring), not yet renewing."""
    if conf.renew_seconds * 2 > conf.lease_seconds:
        raise UserError(
            f"locks.renew_seconds ({conf.renew_seconds}) must be at most half of locks.lease_seconds "
            f"({conf.lease_seconds}), or a live run loses its lease between renewals"
        )
    host = socket.gethostname()
    numbers = _numbers(files.list_names(spark, folder))
    current = numbers[-1] if numbers else -1
    if current >= 0:
        location = f"{folder}/{lease_name(current)}"
        held = _read(spark, location)
        why = _takeover_reason(held, time.time(), host) if held else None
        if why is None:
            raise _refusal(day, held, location)
        if why != "released":
            log.warning(
                "taking over the lease %s of run %s on %s: %s",
                location,
                held.get("owner"),
                held.get("host"),
                why,
            )
    now = time.time()
    record = {
        "day": day.isoformat(),
        "owner": uuid.uuid4().hex[:12],
        "host": host,
        "pid": os.getpid(),
        "acquired": now,
        "renewed": now,
        "expires": now + conf.lease_seconds,
    }
    number = current + 1
    location = f"{folder}/{lease_name(number)}"
    if not files.create_new(spark, location, json.dumps(record)):
        raise _refusal(day, _read(spark, location), location)
    return Lease(spark, folder, number, record, conf)


@contextmanager
def day_lock(lake: Lakehouse, day: dt.date, conf: LocksConf | None = None) -> Iterator[Lease]:
    """Hold the lease of one day of one lakehouse for the block, renewed in the background.

    A second run of the same day refuses with a clear message; a lease of a dead run is taken
    over (at once on the same host, after it expires elsewhere). Call :meth:`Lease.check`
    between units of work to stop when the lease was lost.
    """
    conf = conf or LocksConf()
    folder = f"{under(lake.root, conf.dir)}/daily-{day.isoformat()}"
    lease = acquire(lake.spark, folder, day, conf)
    lease.start()
    try:
        yield lease
    finally:
        lease.release()
