"""What a command tells its user on stdout (logs go to stderr)."""

from __future__ import annotations

import sys


def emit(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
