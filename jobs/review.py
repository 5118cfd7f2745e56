"""``distillwatch review ACTION ...``: record an analyst's decision in ``analyst_decisions``.

Actions (``distillwatch review ACTION --help``):

- ``confirm --campaign C --actor A``: the campaign is a distillation campaign run by A; A
  replaces the actor intel names (confidence 1) from the next run on, and the campaign's
  accounts become ``distillation`` training labels from the decision's time on;
- ``dismiss --campaign C``: not a campaign; it is not published again, under its id or a
  new one, and its accounts become ``benign`` training labels;
- ``must-link --account A (--account B | --campaign C)``: always linked;
- ``cannot-link --account A (--account B | --campaign C)``: never in one campaign;
- ``label --account A --label benign|distillation``: a training label for the account;
- ``revoke --decision ID``: takes a decision back;
- ``list``: the decisions in force and the latest day's campaigns nobody has reviewed.

Every decision records who (``--analyst``, default the login name), when (now, UTC, or
``--decided-at`` for one taken earlier) and why (``--reason``, required). Rows are never
updated: the latest decision on a subject wins, and ``decision_labels`` is rebuilt after
each one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import logging
import uuid

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillwatch import tables
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.errors import UserError
from distillwatch.lakehouse import Lakehouse
from distillwatch.pipelines.decisions import (
    ReviewState,
    analyst_decisions,
    decision_labels,
    in_force,
    review_state,
)
from distillwatch.spark import one_row
from distillwatch.vocabulary import LABELS

log = logging.getLogger(__name__)

# CLI spelling -> analyst_decisions.action
ACTIONS = {
    "confirm": "confirm",
    "dismiss": "dismiss",
    "must-link": "must_link",
    "cannot-link": "cannot_link",
    "label": "label",
    "revoke": "revoke",
}
_REQUEST_COLUMNS = (
    "decision_id",
    "decided_at",
    "analyst",
    "action",
    "campaign_id",
    "account_id",
    "other_account_id",
    "actor",
    "label",
    "reason",
    "revokes",
)


def _timestamp(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO timestamp: {text!r}") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reason", required=True, help="why (kept with the decision)")
    p.add_argument("--analyst", default=None, help="who decides (default: the login name)")
    p.add_argument(
        "--decided-at", type=_timestamp, default=None, help="when, ISO timestamp in UTC (default: now)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("confirm", help="a distillation campaign, run by --actor")
    p.add_argument("--campaign", required=True)
    p.add_argument("--actor", required=True)
    _common(p)
    p = sub.add_parser("dismiss", help="not a distillation campaign: never published again")
    p.add_argument("--campaign", required=True)
    _common(p)
    for name, what in (("must-link", "always linked"), ("cannot-link", "never in one campaign")):
        p = sub.add_parser(name, help=f"an account and another account or a campaign: {what}")
        p.add_argument(
            "--account", action="append", required=True, help="an account (give two, or one and --campaign)"
        )
        p.add_argument("--campaign")
        _common(p)
    p = sub.add_parser("label", help="a training label for an account")
    p.add_argument("--account", required=True)
    p.add_argument("--label", required=True, choices=LABELS)
    _common(p)
    p = sub.add_parser("revoke", help="take a decision back")
    p.add_argument("--decision", required=True)
    _common(p)
    p = sub.add_parser("list", help="decisions in force and campaigns waiting for review")
    p.add_argument("--all", action="store_true", help="every decision ever recorded, revoked ones too")


def _request(args: argparse.Namespace) -> dict[str, object]:
    """The decision row (without scope) the arguments describe; a UserError when they do
    not describe one."""
    action = ACTIONS[args.action]
    row: dict[str, object] = dict.fromkeys(_REQUEST_COLUMNS)
    row.update(
        decision_id=uuid.uuid4().hex[:16],
        decided_at=args.decided_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
        analyst=args.analyst or getpass.getuser(),
        action=action,
        reason=args.reason.strip(),
    )
    if not row["reason"]:
        raise UserError("--reason must say why")
    if action in ("confirm", "dismiss"):
        row.update(campaign_id=args.campaign, actor=getattr(args, "actor", None))
    elif action in ("must_link", "cannot_link"):
        accounts = list(dict.fromkeys(args.account))
        if len(accounts) == 2 and not args.campaign:
            row.update(account_id=accounts[0], other_account_id=accounts[1])
        elif len(accounts) == 1 and args.campaign:
            row.update(account_id=accounts[0], campaign_id=args.campaign)
        else:
            raise UserError(f"{args.action} needs two different --account, or one --account and --campaign")
    elif action == "label":
        row.update(account_id=args.account, label=args.label)
    elif action == "revoke":
        row.update(revokes=args.decision)
    return row


def _check(lake: Lakehouse, row: dict[str, object]) -> None:
    """Refuse a decision about a campaign or decision that does not exist."""
    if row["campaign_id"] is not None:
        known = lake.exists(tables.CAMPAIGNS) and not (
            lake.read(tables.CAMPAIGNS).where(F.col("campaign_id") == F.lit(row["campaign_id"])).isEmpty()
        )
        if not known:
            raise UserError(f"no campaign {row['campaign_id']} in {lake.qualified(tables.CAMPAIGNS)}")
    if row["revokes"] is not None:
        target = (
            lake.read(tables.ANALYST_DECISIONS).where(F.col("decision_id") == F.lit(row["revokes"]))
            if lake.exists(tables.ANALYST_DECISIONS)
            else None
        )
        if target is None or target.where(F.col("action") != "revoke").isEmpty():
            raise UserError(f"no decision {row['revokes']} to revoke")


def _read_or_empty(lake: Lakehouse, table: str) -> DataFrame:
    if lake.exists(table):
        return lake.read(table)
    return lake.spark.createDataFrame([], tables.schema(table))


def record(ctx: JobContext, args: argparse.Namespace) -> str:
    """Append the decision ``args`` describe (with its scope) and rebuild decision_labels;
    returns its id."""
    lake = ctx.lake
    row = _request(args)
    _check(lake, row)
    schema = tables.subset(tables.ANALYST_DECISIONS, *_REQUEST_COLUMNS)
    request = lake.spark.createDataFrame([tuple(row[c] for c in _REQUEST_COLUMNS)], schema)
    members = _read_or_empty(lake, tables.CAMPAIGN_MEMBERS)
    indicators = _read_or_empty(lake, tables.CAMPAIGN_INDICATORS)
    lake.publish(analyst_decisions(request, members, indicators), tables.ANALYST_DECISIONS)
    refresh_labels(ctx)
    return str(row["decision_id"])


def refresh_labels(ctx: JobContext) -> DataFrame:
    """Rebuild ``decision_labels`` from every decision and campaign membership; returns it."""
    lake = ctx.lake
    labels = decision_labels(
        lake.read(tables.ANALYST_DECISIONS), _read_or_empty(lake, tables.CAMPAIGN_MEMBERS)
    )
    lake.publish(labels, tables.DECISION_LABELS)
    return lake.read(tables.DECISION_LABELS)


def review_state_of(lake: Lakehouse, latest_members: DataFrame) -> ReviewState | None:
    """What the recorded decisions bind in a run (None before the first decision)."""
    if not lake.exists(tables.ANALYST_DECISIONS):
        return None
    decisions = lake.read(tables.ANALYST_DECISIONS)
    if decisions.isEmpty():
        return None
    has_cannot = not decisions.where(F.col("action") == "cannot_link").isEmpty()
    return review_state(decisions, latest_members, has_cannot)


def pending_reviews(lake: Lakehouse) -> DataFrame:
    """The latest day's campaigns without a confirm or dismiss in force."""
    daily = lake.read(tables.CAMPAIGN_ATTRIBUTION_DAILY)
    latest = daily.where(F.col("event_date") == one_row(daily.agg(F.max("event_date")))[0])
    reviewed = in_force(_read_or_empty(lake, tables.ANALYST_DECISIONS)).where(
        F.col("action").isin("confirm", "dismiss")
    )
    return latest.join(reviewed.select("campaign_id"), "campaign_id", "left_anti").select(
        "event_date", "campaign_id", "actor", "confidence", "n_accounts", "n_exchanges", "status"
    )


def _list(ctx: JobContext, show_all: bool) -> int:
    lake = ctx.lake
    decisions = _read_or_empty(lake, tables.ANALYST_DECISIONS)
    shown = decisions if show_all else in_force(decisions)
    cols = ("decided_at", "decision_id", "analyst", "action", "campaign_id", "account_id",
            "other_account_id", "actor", "label", "revokes", "reason")  # fmt: skip
    rows = shown.select(*cols).orderBy("decided_at").collect()  # decisions: made by hand, few
    emit(f"review: {len(rows)} decision(s) {'recorded' if show_all else 'in force'}")
    for r in rows:
        emit("  " + " ".join(f"{c}={r[c]}" for c in cols if r[c] is not None))
    if lake.exists(tables.CAMPAIGN_ATTRIBUTION_DAILY):
        pending = pending_reviews(lake).orderBy(F.desc("n_exchanges")).collect()  # campaigns: few
        emit(f"review: {len(pending)} campaign(s) of the latest day waiting for review")
        for r in pending:
            emit(f"  {r.campaign_id} actor={r.actor} confidence={r.confidence} accounts={r.n_accounts} "
                 f"exchanges={r.n_exchanges} {r.status}")  # fmt: skip
    return 0


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(ctx, args.all)
    decision = record(ctx, args)
    emit(f"review: recorded {ACTIONS[args.action]} as decision {decision}")
    return 0
