"""Indicator sharing: ``distillwatch stix-export`` and the partner STIX bundles ingest reads.

``stix-export --campaign C [--date D] --out FILE.json`` writes campaign C's indicators of
day D (default: its latest day) as a STIX 2.1 bundle (``distillwatch.pipelines.sharing``),
checks it with the STIX validator (``stix2-validator``) and refuses to write one that is
not valid. ``partner_threat_intel`` reads the bundles partners deliver under
``<landing>/<sharing.landing_dir>/*.json`` into ``threat_intel`` rows (ingest puts them
beside the JSONL listings).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging

import stix2validator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from distillwatch import files, tables
from distillwatch.console import emit
from distillwatch.context import JobContext
from distillwatch.days import parse_day
from distillwatch.errors import UserError
from distillwatch.pipelines.sharing import campaign_bundle, threat_intel_rows
from distillwatch.spark import one_row

log = logging.getLogger(__name__)


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--campaign", required=True, help="campaign_id")
    parser.add_argument("--date", type=parse_day, default=None, help="campaign-day (default: its latest)")
    parser.add_argument("--out", required=True, help="bundle file (local path or URI)")


def validation_errors(bundle_json: str) -> list[str]:
    """What the STIX 2.1 validator finds wrong with a bundle (empty: valid)."""
    result = stix2validator.validate_string(bundle_json, stix2validator.ValidationOptions(version="2.1"))
    objects = getattr(result, "object_results", None) or [result]
    errors = [str(e) for o in objects for e in (o.errors or [])]
    return errors + ([] if result.is_valid or errors else ["bundle is not valid STIX 2.1"])


def export_bundle(ctx: JobContext, campaign_id: str, day: dt.date | None = None) -> str:
    """The STIX 2.1 bundle (JSON text) of one campaign-day; a UserError when there is none."""
    lake = ctx.lake
    daily = lake.read(tables.CAMPAIGN_ATTRIBUTION_DAILY).where(F.col("campaign_id") == campaign_id)
    if day is None:
        day = one_row(daily.agg(F.max("event_date")))[0]
    rows = daily.where(F.col("event_date") == F.lit(day)).collect() if day else []  # one row
    if not rows:
        raise UserError(
            f"campaign {campaign_id} has no row in campaign_attribution_daily{f' on {day}' if day else ''}"
        )
    conf = ctx.cfg.sharing
    indicators = (
        lake.read(tables.CAMPAIGN_INDICATORS)
        .where((F.col("campaign_id") == campaign_id) & (F.col("event_date") == F.lit(day)))
        .where(F.col("ind_type").isin(*conf.export_types))
        .select("ind_type", "ind_value", "n_accounts")
        .collect()  # one campaign-day's linking values: tens to hundreds
    )
    bundle = campaign_bundle(
        rows[0].asDict(),
        [r.asDict() for r in indicators],
        conf.identity_name,
        conf.identity_class,
        conf.valid_days,
    )
    return str(bundle.serialize(pretty=True, sort_keys=True))


def run_export(ctx: JobContext, args: argparse.Namespace) -> int:
    text = export_bundle(ctx, args.campaign, args.date)
    errors = validation_errors(text)
    if errors:
        raise UserError("the bundle does not validate: " + "; ".join(errors))
    files.write_text(ctx.spark, args.out, text)
    n = text.count('"type": "indicator"')
    emit(f"stix-export {args.campaign}: {n} indicators, valid STIX 2.1 -> {args.out}")
    return 0


def partner_threat_intel(ctx: JobContext) -> DataFrame | None:
    """``threat_intel`` rows of every partner bundle under the landing's STIX folder (None
    when there is none). Bundles are small (a partner's listings), read on the driver."""
    spark = ctx.spark
    folder = f"{ctx.landing.rstrip('/')}/{ctx.cfg.sharing.landing_dir}"
    if not files.folder_exists(spark, folder):
        return None
    rows = []
    for name in files.list_files(spark, folder, ("*.json",)):
        text = files.read_text(spark, name)
        if text:
            found = threat_intel_rows(text, ctx.cfg.sharing.default_confidence)
            log.info("partner STIX bundle %s: %d threat_intel rows", name, len(found))
            rows += found
    return spark.createDataFrame(rows, tables.schema(tables.THREAT_INTEL))
