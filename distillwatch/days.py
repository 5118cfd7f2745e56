"""Day arguments of the CLI: an ISO date, or ``today`` / ``yesterday`` (UTC).

Schedulers that cannot do date arithmetic in a template (a Databricks job parameter, say)
pass ``yesterday``: the daily job then processes the last complete day.
"""

from __future__ import annotations

import argparse
import datetime as dt

RELATIVE = {"today": 0, "yesterday": 1}


def parse_day(text: str, now: dt.datetime | None = None) -> dt.date:
    """``YYYY-MM-DD``, ``today`` or ``yesterday`` (UTC) as a date; anything else is an error."""
    key = text.strip().lower()
    if key in RELATIVE:
        today = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).date()
        return today - dt.timedelta(days=RELATIVE[key])
    try:
        return dt.date.fromisoformat(key)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a day: {text!r} (give YYYY-MM-DD, today or yesterday)"
        ) from None
