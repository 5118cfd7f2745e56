"""bronze_exchanges of one event date -> silver_exchanges (one row per accepted exchange).

Each exchange is enriched point-in-time for its date D: the account snapshot in force
(latest ``snapshot_date <= D``), IP intelligence of its /24 or /48 prefix, threat-intel
indicators first seen on or before D, the model's release time, and the content
fingerprints and labels. Raw prompt text lives in this table and nowhere downstream.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from distillwatch.pipelines.fingerprint import MinHashSpec, add_fingerprints, normalise_prompt, text_hash
from distillwatch.pipelines.intent import INTENT_FLAGS, Patterns, add_content_labels, shape_capability
from distillwatch.pipelines.ip import ip_prefix, ip_version

SILVER_COLUMNS = (
    "request_id", "event_date", "ts", "account_id", "api_key_id", "model", "client_ip", "user_agent", "tls_fp",
    "prompt", "system_prompt", "input_tokens", "output_tokens", "n_messages", "n_tools", "tool_calls",
    "has_image", "thinking", "status", "latency_ms",
    "ip_prefix", "ip_version", "asn", "asn_org", "ip_country", "is_hosting", "is_proxy",
    "org_id", "signup_path", "payment_fp", "email_domain", "is_free_mail", "billing_country", "verified",
    "account_created_at",
    "model_released_at", "is_new_model",
    "template_hash", "prompt_hash", "lsh_bands", "cot_elicitation", "rubric_grading", "sensitive_rewrite",
    "capability", "lang", "patterns_version",
    "intel_actor", "intel_confidence", "intel_types",
)  # fmt: skip

# indicator type -> the silver column whose value it is compared with
INTEL_KEYS: dict[str, str] = {
    "ip_prefix": "ip_prefix",
    "asn": "asn",
    "payment_fp": "payment_fp",
    "email_domain": "email_domain",
    "tls_fp": "tls_fp",
    "user_agent": "user_agent",
    "prompt_example": "template_hash",
}


def _day(day: str | dt.date) -> Column:
    return F.lit(str(day)).cast("date")


def account_snapshot(accounts: DataFrame, day: str | dt.date, active: DataFrame | None = None) -> DataFrame:
    """One row per account: its latest snapshot with ``snapshot_date <= day`` (never a later one).

    ``active`` (account_id): only these accounts. The accounts table holds every snapshot of
    every account ever seen, so it grows with the days and the customer base, while a day's
    traffic comes from a fraction of them: the semi-join on the day's narrow account ids comes
    first, and the window ranks only the active accounts' snapshots (shuffled by account once,
    for both). Where the table holds little more than a day's active accounts (the bench
    worlds), the ids' shuffle is a cost without a saving (docs/benchmarks.md, 2026-12-06).
    """
    rows = accounts.where(F.col("snapshot_date") <= _day(day))
    if active is not None:
        rows = rows.join(active.select("account_id"), "account_id", "left_semi")
    w = Window.partitionBy("account_id").orderBy(F.col("snapshot_date").desc())
    return (
        rows.withColumn("_rn", F.row_number().over(w))
        .where("_rn = 1")
        .select(
            "account_id",
            "org_id",
            "signup_path",
            "payment_fp",
            F.lower("email_domain").alias("email_domain"),
            "billing_country",
            "verified",
            F.col("created_at").alias("account_created_at"),
        )
    )


def intel_by_value(
    threat_intel: DataFrame, day: str | dt.date, rules: tuple[tuple[str, str], ...]
) -> DataFrame:
    """One row per (indicator_type, key) known by ``day``: best actor and its confidence.

    ``key`` is the indicator value as compared with silver; a ``prompt_example`` is
    fingerprinted exactly as traffic is, so its key is the template hash (as a string).
    """
    ti = threat_intel.where(F.col("first_seen").isNull() | (F.col("first_seen") <= _day(day)))
    key = F.when(
        F.col("indicator_type") == "prompt_example",
        text_hash(normalise_prompt(F.col("value"), rules)).cast("string"),
    ).otherwise(F.lower(F.trim("value")))
    w = Window.partitionBy("indicator_type", "key").orderBy(F.col("confidence").desc(), F.col("actor"))
    return (
        ti.withColumn("key", key)
        .where(F.col("key").isNotNull())
        .withColumn("_rn", F.row_number().over(w))
        .where("_rn = 1")
        .select("indicator_type", "key", "actor", "confidence")
    )


def _match_intel(df: DataFrame, intel: DataFrame) -> DataFrame:
    """Add ``intel_actor``, ``intel_confidence`` and ``intel_types``.

    One broadcast left join per indicator type: threat intel is small (thousands to a
    few million indicators), so no shuffle of the exchanges is needed. If it ever
    outgrows broadcast memory, replace with one exploded (type, key) shuffle join.
    """
    structs = []
    for itype, column in INTEL_KEYS.items():
        sub = intel.where(F.col("indicator_type") == itype).select(
            F.col("key").alias(f"_k_{itype}"),
            F.struct(F.col("confidence"), F.col("actor"), F.lit(itype).alias("type")).alias(f"_m_{itype}"),
        )
        value = F.lower(F.trim(F.col(column).cast("string")))
        df = df.join(F.broadcast(sub), value == F.col(f"_k_{itype}"), "left").drop(f"_k_{itype}")
        structs.append(F.col(f"_m_{itype}"))
    matches = F.filter(F.array(*structs), lambda m: m.isNotNull())
    best = F.array_max(matches)  # structs compare field by field: highest confidence first
    return df.withColumns(
        {
            "intel_actor": best["actor"],
            "intel_confidence": best["confidence"],
            "intel_types": F.transform(matches, lambda m: m["type"]),
        }
    ).drop(*[f"_m_{t}" for t in INTEL_KEYS])


def add_content(ex: DataFrame, patterns: Patterns, spec: MinHashSpec) -> DataFrame:
    """Fingerprints (:func:`add_fingerprints`) and content labels (:func:`add_content_labels`),
    computed once per distinct (prompt, system prompt) and joined back on their hashes.

    The rules, the normalisation regexes and the language detector (a pandas UDF over
    these distinct rows, ``pipelines.intent.detected_language``) are the expensive part of
    silver; a day of API traffic repeats prompts (campaigns by design, SDKs and evaluation suites by
    habit: the default simulated day has 4x fewer distinct prompts than exchanges). The
    request-shape rules of ``capability`` (an image, tools offered or called) are per
    exchange, so they are applied after the join, before the text rule. Keys are 64-bit
    xxhash values: two different prompts with one hash (about 3 in 100 for a billion
    distinct prompts a day) would share labels.
    """
    zero = F.lit(0).cast("bigint")
    keyed = ex.withColumn("_pk", F.coalesce(text_hash(F.col("prompt")), zero)).withColumn(
        "_sk", F.coalesce(text_hash(F.col("system_prompt")), zero)
    )
    distinct = (
        keyed.groupBy("_pk", "_sk")
        .agg(F.first("prompt").alias("prompt"), F.first("system_prompt").alias("system_prompt"))
        # no request shape here: capability from these rows is the text rule alone
        .withColumns({"n_tools": F.lit(0), "tool_calls": F.lit(0), "has_image": F.lit(False)})
    )
    labels = add_content_labels(add_fingerprints(distinct, patterns.normalise, spec), patterns).select(
        "_pk",
        "_sk",
        "template_hash",
        "prompt_hash",
        "lsh_bands",
        *INTENT_FLAGS,
        F.col("capability").alias("_text_capability"),
        "lang",
        "patterns_version",
    )
    shape = shape_capability(
        F.col("n_tools"), F.col("tool_calls"), F.col("has_image"), F.col("_text_capability")
    )
    return (
        keyed.join(labels, ["_pk", "_sk"], "left")
        .withColumn("capability", shape)
        .drop("_pk", "_sk", "_text_capability")
    )


def silver_exchanges(
    bronze_day: DataFrame,
    accounts: DataFrame,
    ip_intel: DataFrame,
    threat_intel: DataFrame,
    model_releases: DataFrame,
    day: str | dt.date,
    patterns: Patterns,
    spec: MinHashSpec,
    new_model_hours: int = 48,
) -> DataFrame:
    """silver_exchanges rows of ``day``: one row per bronze exchange of that event date.

    ``accounts`` carries ``snapshot_date``; only snapshots and intel known by ``day``
    are used. Exchanges of an account without a snapshot are kept with null account
    attributes (the data-quality suite reports them).
    """
    ex = bronze_day.where(F.col("event_date") == _day(day)).select(
        *[c for c in SILVER_COLUMNS[:20]],
        ip_prefix(F.col("client_ip")).alias("ip_prefix"),
        ip_version(F.col("client_ip")).alias("ip_version"),
    )
    ipi = ip_intel.select(
        F.col("prefix").alias("ip_prefix"),
        "asn",
        "asn_org",
        F.col("country").alias("ip_country"),
        "is_hosting",
        "is_proxy",
    ).dropDuplicates(["ip_prefix"])
    releases = model_releases.groupBy("model").agg(F.min("released_at").alias("model_released_at"))
    free = list(patterns.free_mail_domains)
    ex = (
        ex.join(ipi, "ip_prefix", "left")
        .join(account_snapshot(accounts, day, ex.select("account_id").distinct()), "account_id", "left")
        .withColumn("is_free_mail", F.col("email_domain").isin(free))
        .join(F.broadcast(releases), "model", "left")
        .withColumn(
            "is_new_model",
            F.coalesce(
                (F.col("ts") >= F.col("model_released_at"))
                & (F.col("ts") < F.col("model_released_at") + F.make_interval(hours=F.lit(new_model_hours))),
                F.lit(False),
            ),
        )
        .transform(lambda d: add_content(d, patterns, spec))
    )
    ex = _match_intel(ex, intel_by_value(threat_intel, day, patterns.normalise))
    return ex.select(*SILVER_COLUMNS)
