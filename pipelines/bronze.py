"""The bronze family: raw landing lines -> typed, validated records of ``bronze_exchanges``,
``bronze_quarantine`` and the dimension tables (``accounts``, ``ip_intel``, ``threat_intel``,
``model_releases``, ``labels``).

Every record read ends up either accepted (one row of ``bronze_exchanges``) or in
quarantine with a single reason, never silently dropped:

    read = accepted + quarantined,   accepted = new + duplicates

A record that reuses an accepted record's ``request_id`` with other content is not a
duplicate but a conflict, quarantined with both content hashes (:func:`resolve_conflicts`).

Validation is all Spark built-ins (``from_json``, ``try_cast``), so it runs at the
speed of the JSON parser on any number of executors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, IntegerType, LongType, StructType

from distillwatch import tables
from distillwatch.contract import (
    EXCHANGE_COUNT_FIELDS,
    EXCHANGE_COUNT_MAX,
    EXCHANGE_FIELDS,
    EXCHANGE_ID_FIELDS,
    EXCHANGE_REQUIRED,
    EXCHANGE_SCHEMA,
    EXCHANGE_TEXT_SCHEMA,
    PROMPT_MAX_CHARS,
)
from distillwatch.pipelines.ip import is_valid_ip

CORRUPT = "_corrupt_record"

# Reasons, in the order they are checked: a record gets the first that applies.
REASON_EMPTY = "empty_record"
REASON_JSON = "unparseable_json"
REASON_UTF8 = "invalid_utf8"
REASON_MISSING = "missing_required_field"
REASON_BLANK = "empty_field"
REASON_TYPE = "wrong_type"
REASON_NEGATIVE = "negative_count"
REASON_RANGE = "out_of_range"
REASON_LONG = "prompt_too_long"
REASON_TS = "unparseable_ts"
REASON_FUTURE = "ts_in_future"
REASON_TOO_OLD = "ts_too_old"
REASON_IP = "unparseable_ip"
REASON_CONFLICT = "conflicting_duplicate"
REASONS = (
    REASON_EMPTY,
    REASON_JSON,
    REASON_UTF8,
    REASON_MISSING,
    REASON_BLANK,
    REASON_TYPE,
    REASON_NEGATIVE,
    REASON_RANGE,
    REASON_LONG,
    REASON_TS,
    REASON_FUTURE,
    REASON_TOO_OLD,
    REASON_IP,
    REASON_CONFLICT,  # checked after the others, across records (resolve_conflicts)
)
# A quarantined line that is not valid UTF-8 keeps its original bytes, base64-encoded
# after this prefix (Spark's text reader keeps the bytes as they are in the file).
BASE64_PREFIX = "base64:"

_TYPED_KINDS = (LongType, IntegerType, BooleanType)


def parse_exchange_lines(
    lines: DataFrame,
    delivery_date: dt.date,
    max_lateness_days: int,
    max_future_skew_minutes: int,
) -> DataFrame:
    """Parse and validate raw lines.

    Input: one row per landing line, columns ``raw`` (the line) and ``source_file``.
    Output: one row per line with every contract field typed, ``ts`` parsed, ``event_date``,
    and ``reason`` (null when the record is accepted, else the first failed check, with the
    offending field after a colon, e.g. ``missing_required_field:account_id``); ``raw``
    (the line, rejected records only) and ``raw_hash`` (of every line).
    """
    text_schema = StructType(list(EXCHANGE_TEXT_SCHEMA.fields)).add(CORRUPT, "string")  # add() mutates
    parsed = lines.select(
        "raw",
        "source_file",
        F.from_json("raw", EXCHANGE_SCHEMA).alias("t"),
        F.from_json("raw", text_schema, {"columnNameOfCorruptRecord": CORRUPT}).alias("s"),
    )

    def first_field(cond: Callable[[str], Column], names: Sequence[str]) -> Column:
        """The name of the first field for which ``cond(name)`` holds, else null."""
        return F.coalesce(*[F.when(cond(n), F.lit(n)) for n in names], F.lit(None).cast("string"))

    missing = first_field(lambda n: F.col(f"s.{n}").isNull(), EXCHANGE_REQUIRED)
    typed_fields = [n for n, tp, _ in EXCHANGE_FIELDS if isinstance(tp, _TYPED_KINDS)]
    wrong_type = first_field(lambda n: F.col(f"s.{n}").isNotNull() & F.col(f"t.{n}").isNull(), typed_fields)
    negative = first_field(lambda n: F.col(f"t.{n}") < 0, EXCHANGE_COUNT_FIELDS)
    too_big = first_field(lambda n: F.col(f"t.{n}") > EXCHANGE_COUNT_MAX[n], EXCHANGE_COUNT_FIELDS)
    blank = first_field(
        lambda n: (
            (F.trim(F.col(f"t.{n}")) == "")
            & ((F.lit(n) != "prompt") | ~F.coalesce(F.col("t.has_image"), F.lit(False)))
        ),
        (*EXCHANGE_ID_FIELDS, "prompt"),
    )

    ts = F.col("s.ts").try_cast("timestamp")
    day_start = F.lit(delivery_date.isoformat()).cast("timestamp")
    future_limit = day_start + F.expr(f"INTERVAL 1 DAY + INTERVAL {int(max_future_skew_minutes)} MINUTES")
    oldest_date = F.lit((delivery_date - dt.timedelta(days=max_lateness_days)).isoformat()).cast("date")
    is_json_object = F.trim(F.col("raw")).startswith("{")

    reason = (
        F.when(F.trim(F.col("raw")) == "", F.lit(REASON_EMPTY))
        .when(F.col(f"s.{CORRUPT}").isNotNull() | ~is_json_object, F.lit(REASON_JSON))
        .when(~F.expr("is_valid_utf8(raw)"), F.lit(REASON_UTF8))
        .when(missing.isNotNull(), F.concat(F.lit(REASON_MISSING + ":"), missing))
        .when(blank.isNotNull(), F.concat(F.lit(REASON_BLANK + ":"), blank))
        .when(wrong_type.isNotNull(), F.concat(F.lit(REASON_TYPE + ":"), wrong_type))
        .when(negative.isNotNull(), F.concat(F.lit(REASON_NEGATIVE + ":"), negative))
        .when(too_big.isNotNull(), F.concat(F.lit(REASON_RANGE + ":"), too_big))
        .when(F.length("t.prompt") > PROMPT_MAX_CHARS, F.lit(REASON_LONG))
        .when(ts.isNull(), F.lit(REASON_TS))
        .when(ts >= future_limit, F.lit(REASON_FUTURE))
        .when(F.to_date(ts) < oldest_date, F.lit(REASON_TOO_OLD))
        .when(~is_valid_ip(F.col("t.client_ip")), F.lit(REASON_IP))
    )
    fields = [F.col(f"t.{n}").alias(n) for n, _, _ in EXCHANGE_FIELDS if n != "ts"]
    # The raw line is kept only where quarantine needs it: an accepted record's line (up
    # to ~10 KB with a 4,000-character prompt) would otherwise be carried through the
    # cache and the de-duplication sort of every exchange; its hash is the tie-break.
    kept_line = F.when(F.expr("is_valid_utf8(raw)"), F.col("raw")).otherwise(
        F.concat(F.lit(BASE64_PREFIX), F.base64(F.col("raw").cast("binary")))
    )
    return parsed.select(
        F.when(reason.isNotNull(), kept_line).alias("raw"),
        F.xxhash64("raw").alias("raw_hash"),
        "source_file",
        reason.alias("reason"),
        *fields,
        ts.alias("ts"),
        F.to_date(ts).alias("event_date"),
        F.lit(delivery_date).alias("delivery_date"),
    )


def resolve_conflicts(validated: DataFrame) -> DataFrame:
    """``validated`` (:func:`parse_exchange_lines`) with records that reuse another
    accepted record's ``request_id`` with different content quarantined as
    ``conflicting_duplicate``.

    The first delivered wins: within a delivery the record of the first file by name, ties
    broken by the smaller content hash (a hash of every typed field), so the outcome does
    not depend on read order. The loser's ``raw`` is a JSON object holding both hashes and
    the record (``{"content_hash", "kept_content_hash", "record"}``). Records with the same
    content stay accepted: they are ordinary at-least-once duplicates. One window over
    ``request_id``, the partitioning :func:`bronze_exchanges` needs anyway.
    """
    names = [n for n, _, _ in EXCHANGE_FIELDS]
    content = F.xxhash64(*[F.col(n) for n in names])
    ok = F.col("reason").isNull()
    w = (
        Window.partitionBy("request_id")
        .orderBy("source_file", "_content")
        .rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    )
    kept = F.first(F.when(ok, F.col("_content")), ignorenulls=True).over(w)
    tagged = validated.withColumn("_content", content).withColumn("_kept", kept)
    conflict = ok & F.col("request_id").isNotNull() & (F.col("_content") != F.col("_kept"))
    evidence = F.to_json(
        F.struct(
            F.hex("_content").alias("content_hash"),
            F.hex("_kept").alias("kept_content_hash"),
            F.struct(*names).alias("record"),
        )
    )
    return (
        tagged.withColumn("raw", F.when(conflict, evidence).otherwise(F.col("raw")))
        .withColumn("reason", F.when(conflict, F.lit(REASON_CONFLICT)).otherwise(F.col("reason")))
        .drop("_content", "_kept")
    )


def bronze_exchanges(validated: DataFrame, ingested_at: Column) -> DataFrame:
    """Valid records, one per ``request_id`` (at-least-once delivery repeats some), in bronze column order."""
    ok = validated.where(F.col("reason").isNull())
    # A redelivered record is the same record; keep one deterministically.
    w = Window.partitionBy("request_id").orderBy("source_file", "raw_hash")
    one = ok.withColumn("_n", F.row_number().over(w)).where("_n = 1")
    return one.withColumn("ingested_at", ingested_at).select(
        *[F.col(f.name).cast(f.dataType) for f in tables.schema(tables.BRONZE_EXCHANGES).fields]
    )


def bronze_quarantine(validated: DataFrame, source: str, ingested_at: Column) -> DataFrame:
    """Rejected records with the raw line and the reason (the ``bronze_quarantine`` columns)."""
    return validated.where(F.col("reason").isNotNull()).select(
        F.lit(source).alias("source"),
        "delivery_date",
        "source_file",
        "raw",
        "reason",
        "request_id",
        ingested_at.alias("ingested_at"),
    )


def dimension_records(
    lines: DataFrame,
    schema: StructType,
    required: Sequence[str],
    source: str,
    delivery_date: dt.date,
    ingested_at: Column,
) -> tuple[DataFrame, DataFrame]:
    """Parse a dimension's landing lines (``raw``, ``source_file``) with its explicit schema.

    Returns (valid rows with the schema's columns, quarantine rows). A required field that
    is absent or of the wrong type (parsed as null) quarantines the row.
    """
    with_corrupt = StructType(list(schema.fields)).add(CORRUPT, "string")
    parsed = lines.where(F.trim("raw") != "").select(
        "raw",
        "source_file",
        F.from_json("raw", with_corrupt, {"columnNameOfCorruptRecord": CORRUPT}).alias("r"),
    )
    missing = F.coalesce(
        *[F.when(F.col(f"r.{c}").isNull(), F.lit(c)) for c in required], F.lit(None).cast("string")
    )
    reason = F.when(
        F.col(f"r.{CORRUPT}").isNotNull() | ~F.trim("raw").startswith("{"), F.lit(REASON_JSON)
    ).when(missing.isNotNull(), F.concat(F.lit(REASON_MISSING + ":"), missing))
    tagged = parsed.withColumn("_reason", reason)
    good = tagged.where(F.col("_reason").isNull()).select(
        *[F.col(f"r.{f.name}").alias(f.name) for f in schema.fields]
    )
    bad = tagged.where(F.col("_reason").isNotNull()).select(
        F.lit(source).alias("source"),
        F.lit(delivery_date).alias("delivery_date"),
        "source_file",
        "raw",
        F.col("_reason").alias("reason"),
        F.lit(None).cast("string").alias("request_id"),
        ingested_at.alias("ingested_at"),
    )
    return good, bad
