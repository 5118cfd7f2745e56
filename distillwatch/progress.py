"""A live line for a long step: the Spark stages running now, their tasks done, time so far.

The daily and backfill commands print one line per finished step and one per finished day
(with an ETA for the days left). Inside a step of minutes, :func:`stage_progress` keeps a
single status line on stderr, rewritten in place about once a second::

    [2026-02-03] features  1m12s  stage 41: 118/200 tasks (2 running)

It is drawn only when stderr is a terminal (or ``DISTILLWATCH_PROGRESS=1``), so logs, CI and
schedulers never see it, and is erased when the step ends, before the step's own line. The
stages come from the driver's ``StatusTracker``; a Spark Connect session (no SparkContext)
gets no line.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, Protocol

ENV = "DISTILLWATCH_PROGRESS"
CLEAR = "\r\033[K"


class StageInfo(Protocol):
    stageId: int
    numTasks: int
    numActiveTasks: int
    numCompletedTasks: int


def enabled(stream: IO[str]) -> bool:
    """Drawn on a terminal unless ``DISTILLWATCH_PROGRESS=0``; forced on by ``=1``."""
    flag = os.environ.get(ENV)
    if flag is not None:
        return flag.strip() not in ("", "0", "false", "no")
    return bool(getattr(stream, "isatty", lambda: False)())


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s}s" if s < 60 else f"{s // 60}m{s % 60:02d}s"


def render(label: str, stages: Sequence[StageInfo], elapsed: float, width: int = 100) -> str:
    """One status line: the label, the time so far and the active stages' tasks."""
    parts = [f"{label}  {clock(elapsed)}"]
    if stages:
        shown = sorted(stages, key=lambda s: s.stageId)
        first = shown[0]
        parts.append(
            f"stage {first.stageId}: {first.numCompletedTasks}/{first.numTasks} tasks"
            f" ({first.numActiveTasks} running)"
        )
        if len(shown) > 1:
            parts.append(f"+{len(shown) - 1} more stage(s)")
    return "  ".join(parts)[:width]


def _active(tracker: Any) -> list[StageInfo]:
    infos = (tracker.getStageInfo(i) for i in tracker.getActiveStageIds())
    return [s for s in infos if s is not None]


@contextmanager
def stage_progress(
    spark: Any, label: str, stream: IO[str] | None = None, interval: float = 1.0
) -> Iterator[None]:
    """Draw :func:`render`'s line on ``stream`` (stderr) while the block runs, then erase it."""
    out = stream if stream is not None else sys.stderr
    tracker = None
    if enabled(out):
        try:
            tracker = spark.sparkContext.statusTracker()
        except Exception:  # Spark Connect has no SparkContext: no line, nothing else changes
            tracker = None
    if tracker is None:
        yield
        return
    stop = threading.Event()
    t0 = time.perf_counter()

    def draw() -> None:
        while not stop.wait(interval):
            try:
                line = render(label, _active(tracker), time.perf_counter() - t0)
            except Exception:  # the session is stopping; the step reports its own outcome
                return
            out.write(CLEAR + line)
            out.flush()

    thread = threading.Thread(target=draw, name="distillwatch-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        out.write(CLEAR)
        out.flush()
