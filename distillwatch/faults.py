"""Failpoints: a named point in the code where a test can kill the process.

``DISTILLWATCH_FAILPOINT=after_commit:<table>`` makes the process send itself ``SIGKILL``
right after its next Delta commit to ``<table>`` (:class:`distillwatch.lakehouse.Lakehouse`
calls :func:`failpoint` after every commit). Nothing is flushed, no ``finally`` runs: the
state on disk is what a crash at that instant leaves, which the fault-injection test
(tests/test_faults.py) reruns from. Unset (always, outside that test), a failpoint costs one
environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "DISTILLWATCH_FAILPOINT"


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL when ``name`` is the configured failpoint."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
