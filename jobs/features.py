"""``distillwatch features --date D``: bronze of one event date -> silver_exchanges and
account_daily_features (both replaced for that day only, so reruns are idempotent), through
one quality gate: both staged and validated, then both published, or neither."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import yaml

from distillwatch import tables
from distillwatch.config import FeaturesConf, repo_conf_dir
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.jobs.ingest import require_complete_deliveries
from distillwatch.pipelines.features import account_daily_features
from distillwatch.pipelines.fingerprint import MinHashSpec
from distillwatch.pipelines.intent import Patterns
from distillwatch.pipelines.sharing import intel_in_force
from distillwatch.pipelines.silver import silver_exchanges
from distillwatch.quality import StagedDay

log = logging.getLogger(__name__)


def load_patterns(version: str, conf_dir: Path | None = None) -> Patterns:
    """The content rules ``conf/patterns/<version>.yaml``."""
    path = (conf_dir or repo_conf_dir()) / "patterns" / f"{version}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no pattern set {version!r} at {path}")
    patterns = Patterns.from_mapping(yaml.safe_load(path.read_text()))
    if patterns.version != version:
        raise ValueError(f"{path} declares version {patterns.version!r}, expected {version!r}")
    return patterns


def minhash_spec(conf: FeaturesConf) -> MinHashSpec:
    return MinHashSpec(
        num_hashes=conf.minhash_num_hashes,
        band_rows=conf.minhash_band_rows,
        shingle_size=conf.minhash_shingle_size,
        max_tokens=conf.minhash_max_tokens,
        seed=conf.minhash_seed,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", required=True, type=parse_day, help="event date YYYY-MM-DD")


def run(ctx: JobContext, args: argparse.Namespace) -> int:
    require_complete_deliveries(ctx, args.date, "features")
    day = args.date.isoformat()
    conf = ctx.cfg.features
    lake = ctx.lake
    patterns = load_patterns(conf.patterns_version)
    bronze = lake.read(tables.BRONZE_EXCHANGES).where(f"event_date = DATE'{day}'")
    releases = lake.read(tables.MODEL_RELEASES)
    silver = silver_exchanges(
        bronze,
        lake.read(tables.ACCOUNTS),
        lake.read(tables.IP_INTEL),
        intel_in_force(lake.read(tables.THREAT_INTEL), args.date),
        releases,
        day,
        patterns,
        minhash_spec(conf),
        conf.new_model_hours,
    )
    # Write, audit, publish (distillwatch.quality.gate): both tables of the day are staged and
    # validated by their suites, and published together or not at all; a failed gate raises
    # QualityGateFailed and leaves both published days as they were. Silver is not cached
    # for the audit: its gate reads the staged Parquet columns each expectation needs.
    with StagedDay(ctx, day) as gate:
        # Features read the staged silver day (the fingerprints are computed once), and do
        # not cache it: each sub-aggregation reads only its own columns from the files. A
        # cached day stops fitting a driver's storage memory somewhere above 3M exchanges
        # (6 GB driver), and then every read comes back from disk-spilled blocks: on a
        # 9.8M-exchange day the aggregation took ~1,550 s cached and 582 s uncached
        # (docs/benchmarks.md, "Findings").
        silver_day = gate.stage(tables.SILVER_EXCHANGES, silver, cache=False)
        # The rolling 7- and 28-day columns read the account's published rows of the days
        # before (narrow columns, partition-pruned); a rerun of an earlier day does not
        # refresh the later days' rolling columns until they are rerun too.
        prior = (
            lake.read(tables.ACCOUNT_DAILY_FEATURES) if lake.exists(tables.ACCOUNT_DAILY_FEATURES) else None
        )
        gate.stage(tables.ACCOUNT_DAILY_FEATURES, account_daily_features(silver_day, releases, day, prior))
        published = gate.publish()
    # The counts are those of the staged (validated, then published) rows: no re-read.
    n_ex = published[tables.SILVER_EXCHANGES].row_count
    n_acc = published[tables.ACCOUNT_DAILY_FEATURES].row_count
    log.info("features %s: patterns %s", day, patterns.version)
    emit(f"features {day}: {n_ex} silver exchanges, {n_acc} account-day feature rows")
    return 0
