"""The landing contract (see ``docs/data-contract.md``) as explicit Spark schemas, and the
vocabularies every layer shares, each spelled once here.

Other systems write the landing folder; these schemas are the enforcement of its field
names and types. Unknown extra fields in a record are tolerated and ignored (they are
simply not in the schema). The schemas of the tables the pipeline publishes are in
:mod:`distillwatch.tables`.
"""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from distillwatch.vocabulary import (  # noqa: F401  (the contract's vocabularies)
    CAPABILITIES,
    INDICATOR_TYPES,
    INFRA_TYPES,
    LABELS,
    SIGNUP_PATHS,
)


def _s(name: str, tp: object, nullable: bool = True) -> StructField:
    return StructField(name, tp, nullable)  # type: ignore[arg-type]


# One API exchange, as the gateway logs it. ``ts`` stays a string here: its parsing is a
# validation step with its own quarantine reason.
EXCHANGE_FIELDS: tuple[tuple[str, object, bool], ...] = (
    ("request_id", StringType(), True),
    ("ts", StringType(), True),
    ("account_id", StringType(), True),
    ("api_key_id", StringType(), True),
    ("model", StringType(), True),
    ("client_ip", StringType(), True),
    ("user_agent", StringType(), False),
    ("tls_fp", StringType(), False),
    ("prompt", StringType(), True),
    ("system_prompt", StringType(), False),
    ("input_tokens", LongType(), True),
    ("output_tokens", LongType(), True),
    ("n_messages", IntegerType(), True),
    ("n_tools", IntegerType(), True),
    ("tool_calls", IntegerType(), True),
    ("has_image", BooleanType(), True),
    ("thinking", BooleanType(), True),
    ("status", IntegerType(), True),
    ("latency_ms", LongType(), True),
)
"""(name, landing type, required)."""

EXCHANGE_REQUIRED = tuple(n for n, _, req in EXCHANGE_FIELDS if req)
EXCHANGE_COUNT_FIELDS = ("input_tokens", "output_tokens", "n_messages", "n_tools", "tool_calls", "latency_ms")

# Upper bounds of the count fields (inclusive): far above any real exchange, far below what
# a day's per-account sums could overflow at (a 64-bit sum of 10^6 such records still fits).
# A record above one is quarantined (``out_of_range:<field>``), so no single accepted record
# can make a later step fail.
EXCHANGE_COUNT_MAX: dict[str, int] = {
    "input_tokens": 10_000_000,
    "output_tokens": 1_000_000,
    "n_messages": 100_000,
    "n_tools": 10_000,
    "tool_calls": 10_000,
    "latency_ms": 86_400_000,  # a day
}
# Identifiers that must hold more than blanks (``empty_field:<field>``); so must the
# prompt, unless the exchange sent an image.
EXCHANGE_ID_FIELDS = ("request_id", "account_id", "api_key_id", "model")
# The gateway truncates the prompt to this many characters; a longer one breaks the
# contract and is quarantined (``prompt_too_long``).
PROMPT_MAX_CHARS = 4000

EXCHANGE_SCHEMA = StructType([_s(n, t) for n, t, _ in EXCHANGE_FIELDS])
"""Typed landing schema of an exchange record (JSON or Parquet)."""

EXCHANGE_TEXT_SCHEMA = StructType([_s(n, StringType()) for n, _, _ in EXCHANGE_FIELDS])
"""Every field as raw text: tells a missing field from one of the wrong type."""


ACCOUNT_SCHEMA = StructType(
    [
        _s("account_id", StringType()),
        _s("org_id", StringType()),
        _s("created_at", TimestampType()),
        _s("billing_country", StringType()),
        _s("signup_path", StringType()),
        _s("payment_fp", StringType()),
        _s("email_domain", StringType()),
        _s("verified", BooleanType()),
    ]
)
ACCOUNT_REQUIRED = ("account_id", "created_at", "signup_path", "email_domain")

IP_INTEL_SCHEMA = StructType(
    [
        _s("prefix", StringType()),
        _s("asn", LongType()),
        _s("asn_org", StringType()),
        _s("country", StringType()),
        _s("is_hosting", BooleanType()),
        _s("is_proxy", BooleanType()),
    ]
)
IP_INTEL_REQUIRED = ("prefix",)

THREAT_INTEL_SCHEMA = StructType(
    [
        _s("indicator_type", StringType()),
        _s("value", StringType()),
        _s("actor", StringType()),
        _s("source", StringType()),
        _s("confidence", DoubleType()),
        _s("first_seen", DateType()),
    ]
)
THREAT_INTEL_REQUIRED = ("indicator_type", "value", "actor", "confidence")
# Optional fields of a threat_intel record (JSONL or a partner's STIX bundle): the listing
# stops counting after ``valid_until``; ``source_ref`` names where it came from (a STIX
# indicator id, a feed's own reference).
THREAT_INTEL_INGEST_SCHEMA = StructType(
    list(THREAT_INTEL_SCHEMA.fields) + [_s("valid_until", TimestampType()), _s("source_ref", StringType())]
)

MODEL_RELEASE_SCHEMA = StructType([_s("model", StringType()), _s("released_at", TimestampType())])
MODEL_RELEASE_REQUIRED = ("model", "released_at")

LABEL_SCHEMA = StructType(
    [
        _s("account_id", StringType()),
        _s("label", StringType()),
        _s("actor", StringType()),
        _s("campaign", StringType()),
        _s("decided_at", TimestampType()),
    ]
)
LABEL_REQUIRED = ("account_id", "label", "decided_at")
