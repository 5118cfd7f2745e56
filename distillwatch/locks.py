"""The per-day lock of the daily run: two runs of the same day of one lakehouse at once are
refused, and a lock left by a killed run is taken over once its process is gone.

A file created with O_EXCL under ``<lakehouse>/_locks``: enough on one machine or a shared
POSIX file system. On a shared cloud lakehouse use the scheduler's own concurrency limit
(Airflow ``max_active_runs=1``, Databricks ``max_concurrent_runs: 1``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from distillwatch.errors import UserError
from distillwatch.lakehouse import Lakehouse

log = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def day_lock(lake: Lakehouse, day: dt.date) -> Iterator[Path]:
    """An exclusive lock on one day of one lakehouse (O_EXCL file create).

    A second run of the same day refuses with a clear message; a lock whose process has
    died (kill -9) is taken over.
    """
    folder = lake.local_dir("_locks")
    path = folder / f"daily-{day.isoformat()}.lock"
    me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                held = json.loads(path.read_text() or "{}")
            except (OSError, json.JSONDecodeError):
                held = {}
            same_host = held.get("host") == me["host"]
            if same_host and held.get("pid") and not _pid_alive(int(held["pid"])):
                log.warning("taking over the lock of a dead run (pid %s) for %s", held.get("pid"), day)
                path.unlink(missing_ok=True)
                continue
            raise UserError(
                f"another distillwatch run holds {day.isoformat()} (pid {held.get('pid')} on {held.get('host')}, "
                f"lock {path}); refusing to run the same day twice at once"
            ) from None
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        break
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
