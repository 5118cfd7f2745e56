"""The table catalog: every table the pipeline publishes, declared once.

Each :class:`Table` names the table, its layer and family, its Delta partition column, its
schema, its Great Expectations suite (``conf/expectations/<suite>.yaml``) and its builder,
the function whose output is written to it (``"module:function"``, resolved only by tools
and tests, so this ground-floor module imports nothing above it). Builders of derived tables
live in a module named after the table or its family (``distillwatch.pipelines.silver``
builds ``silver_exchanges``; ``distillwatch.pipelines.campaigns`` the campaign tables).

Jobs, the lakehouse, views, quality gates and tests take names and schemas from here;
:meth:`distillwatch.lakehouse.Lakehouse` checks every write against :func:`schema` (names and
types, order-free), so a builder that drifts fails at write time, naming the columns.

The names are also plain constants (``tables.SILVER_EXCHANGES``) so call sites read as the
table's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql.types import StructField, StructType, TimestampType

from distillwatch import contract

# bronze
BRONZE_EXCHANGES = "bronze_exchanges"
BRONZE_QUARANTINE = "bronze_quarantine"
INGEST_LOG = "ingest_log"
INGEST_FILES = "ingest_files"
ACCOUNTS = "accounts"
IP_INTEL = "ip_intel"
THREAT_INTEL = "threat_intel"
MODEL_RELEASES = "model_releases"
LABELS = "labels"
# silver / features
SILVER_EXCHANGES = "silver_exchanges"
ACCOUNT_DAILY_FEATURES = "account_daily_features"
# models
ACCOUNT_SCORES = "account_scores"
# gold
CAMPAIGNS = "campaigns"
CAMPAIGN_MEMBERS = "campaign_members"
CAMPAIGN_EXCHANGES = "campaign_exchanges"
CAMPAIGN_ATTRIBUTION_DAILY = "campaign_attribution_daily"
CAMPAIGN_INDICATORS = "campaign_indicators"
# linkage state: how many unrelated accounts used each shared value, per day
INDICATOR_POPULARITY_DAILY = "indicator_popularity_daily"
# analyst review: decisions (append-only) and the labels they give accounts
ANALYST_DECISIONS = "analyst_decisions"
DECISION_LABELS = "decision_labels"
# gold: what a campaign harvested, and what to do about each account
CAMPAIGN_IMPACT_DAILY = "campaign_impact_daily"
ENFORCEMENT_ACTIONS = "enforcement_actions"
# operations
DQ_RESULTS = "dq_results"
RUNS = "runs"

LAYERS = ("bronze", "silver", "features", "models", "gold", "state", "ops")
WRITES = ("day", "replace", "merge", "insert", "append")


@dataclass(frozen=True)
class Table:
    """One published Delta table."""

    name: str
    layer: str
    # the module (last dotted part) that builds it is named after the table or this family
    family: str
    schema: StructType
    builder: str  # "package.module:function"
    # how a run writes it (Lakehouse.publish): "day" replaces one partition, "replace" the
    # whole table, "merge" upserts on ``key``, "insert" adds rows whose ``key`` is new,
    # "append" adds rows
    write: str
    partition: str | None = None
    suite: str | None = None  # conf/expectations/<suite>.yaml, validated before publication
    key: tuple[str, ...] = ()
    # columns holding raw prompt text: kept for retention.raw_text_days, then scrubbed by
    # `maintain`; no other table may carry such text
    raw_text: tuple[str, ...] = ()
    doc: str = ""

    @property
    def builder_module(self) -> str:
        return self.builder.split(":", 1)[0]

    @property
    def partition_by(self) -> tuple[str, ...]:
        return (self.partition,) if self.partition else ()


_TYPE = re.compile(r"\s*(\w+)\s+([\w<>,]+)\s*$")


_ALIASES = {"int": "integer", "bigint": "long"}


def _type_json(text: str) -> object:
    inner = re.fullmatch(r"array<(\w+)>", text)
    if inner:
        return {
            "type": "array",
            "elementType": _ALIASES.get(inner.group(1), inner.group(1)),
            "containsNull": True,
        }
    return _ALIASES.get(text, text)


def columns(spec: str) -> StructType:
    """``"a string, b long, c array<string>"`` as a StructType (nullable fields), without a
    Spark session (``StructType.fromDDL`` needs one)."""
    fields = []
    for part in re.split(r",(?![^<]*>)", spec.strip().rstrip(",")):
        if not part.strip():
            continue
        m = _TYPE.fullmatch(part)
        if not m:
            raise ValueError(f"bad column spec {part!r}")
        fields.append({"name": m.group(1), "type": _type_json(m.group(2)), "nullable": True, "metadata": {}})
    return StructType.fromJson({"type": "struct", "fields": fields})


def _plus(schema: StructType, spec: str) -> StructType:
    return StructType(list(schema.fields) + list(columns(spec).fields))


def _as_bronze(fields: tuple[tuple[str, object, bool], ...]) -> StructType:
    """The landing fields with ``ts`` parsed to a timestamp."""
    return StructType(
        [StructField(n, TimestampType() if n == "ts" else t, True) for n, t, _ in fields]  # type: ignore[arg-type]
    )


_BRONZE = "distillwatch.pipelines.bronze"
_CAMPAIGNS_DAY = "distillwatch.pipelines.campaigns:campaigns_day"

CATALOG: dict[str, Table] = {
    t.name: t
    for t in (
        # --- bronze: the landing data, typed, with lineage; rejects with a reason
        Table(
            BRONZE_EXCHANGES,
            "bronze",
            "bronze",
            _plus(
                _as_bronze(contract.EXCHANGE_FIELDS),
                "event_date date, delivery_date date, source_file string, ingested_at timestamp",
            ),
            f"{_BRONZE}:bronze_exchanges",
            write="insert",
            key=("request_id",),
            partition="event_date",
            suite=BRONZE_EXCHANGES,
            raw_text=("prompt", "system_prompt"),
            doc="one accepted exchange: the contract fields, ts parsed, plus lineage",
        ),
        Table(
            BRONZE_QUARANTINE,
            "bronze",
            "bronze",
            columns(
                "source string, delivery_date date, source_file string, raw string, reason string,"
                " request_id string, ingested_at timestamp"
            ),
            f"{_BRONZE}:bronze_quarantine",
            write="day",
            partition="delivery_date",
            raw_text=("raw",),
            doc="one record that could not be accepted, with its raw text and the reason",
        ),
        Table(
            ACCOUNTS,
            "bronze",
            "bronze",
            _plus(contract.ACCOUNT_SCHEMA, "snapshot_date date"),
            f"{_BRONZE}:dimension_records",
            write="day",
            partition="snapshot_date",
            doc="the account snapshot of each delivery date",
        ),
        Table(
            IP_INTEL, "bronze", "bronze", contract.IP_INTEL_SCHEMA, f"{_BRONZE}:dimension_records", "replace"
        ),
        Table(
            THREAT_INTEL,
            "bronze",
            "bronze",
            contract.THREAT_INTEL_INGEST_SCHEMA,
            f"{_BRONZE}:dimension_records",
            "replace",
        ),
        Table(
            MODEL_RELEASES,
            "bronze",
            "bronze",
            contract.MODEL_RELEASE_SCHEMA,
            f"{_BRONZE}:dimension_records",
            "replace",
        ),
        Table(LABELS, "bronze", "bronze", contract.LABEL_SCHEMA, f"{_BRONZE}:dimension_records", "replace"),
        # --- silver and features
        Table(
            SILVER_EXCHANGES,
            "silver",
            "silver",
            columns(
                "request_id string, event_date date, ts timestamp, account_id string, api_key_id string,"
                " model string, client_ip string, user_agent string, tls_fp string, prompt string,"
                " system_prompt string, input_tokens long, output_tokens long, n_messages int,"
                " n_tools int, tool_calls int, has_image boolean, thinking boolean, status int,"
                " latency_ms long, ip_prefix string, ip_version int, asn long, asn_org string,"
                " ip_country string, is_hosting boolean, is_proxy boolean, org_id string,"
                " signup_path string, payment_fp string, email_domain string, is_free_mail boolean,"
                " billing_country string, verified boolean, account_created_at timestamp,"
                " model_released_at timestamp, is_new_model boolean, template_hash long,"
                " prompt_hash long, lsh_bands array<long>, cot_elicitation boolean,"
                " rubric_grading boolean, sensitive_rewrite boolean, capability string, lang string,"
                " patterns_version string, intel_actor string, intel_confidence double,"
                " intel_types array<string>"
            ),
            "distillwatch.pipelines.silver:silver_exchanges",
            write="day",
            partition="event_date",
            suite=SILVER_EXCHANGES,
            raw_text=("prompt", "system_prompt"),
            doc="exchanges joined with IP, account and release context, content labels and hashes",
        ),
        Table(
            ACCOUNT_DAILY_FEATURES,
            "features",
            "features",
            columns(
                "event_date date, account_id string, n_exchanges long, input_tokens long,"
                " output_tokens long, active_hours long, hour_coverage double,"
                " distinct_templates_per_exchange double, cot_share double, rubric_share double,"
                " sensitive_share double, mean_turns double, tools_share double, mean_tool_calls double,"
                " image_share double, thinking_share double, mean_output_tokens double,"
                " output_input_ratio double, error_4xx_share double, rate_limited_share double,"
                " newest_model_share double, new_model_share double, signup_path string,"
                " verified double, country_mismatch_share double, hosting_ip_share double,"
                " proxy_ip_share double, n_prefixes long, n_asns long, intel_matches long,"
                " intel_max_confidence double, intel_matches_ip_prefix long, intel_matches_asn long,"
                " intel_matches_payment_fp long, intel_matches_email_domain long,"
                " intel_matches_tls_fp long, intel_matches_user_agent long,"
                " intel_matches_prompt_example long, hour_entropy double, gap_cv double,"
                " burstiness double, top_template_share double, template_entropy double,"
                " capability_entropy double, top_capability string, top_capability_share double,"
                " near_dup_share double, n_accounts_same_prefix long, n_accounts_same_payment long,"
                " n_accounts_same_tls long, n_accounts_same_user_agent long,"
                " n_accounts_same_email_domain long, sync_score double, account_age_days long,"
                " active_days_7d long, active_days_28d long, n_exchanges_7d long, n_exchanges_28d long,"
                " cot_share_28d double, rubric_share_28d double, sensitive_share_28d double,"
                " content_flag_days_28d long, near_dup_share_28d double, thinking_share_28d double,"
                " tools_share_28d double, output_input_ratio_28d double, top_capability_days_28d long"
            ),
            "distillwatch.pipelines.features:account_daily_features",
            write="day",
            partition="event_date",
            suite=ACCOUNT_DAILY_FEATURES,
            doc="one row per account and day: the detector's features",
        ),
        # --- models
        Table(
            ACCOUNT_SCORES,
            "models",
            "scores",
            columns(
                "event_date date, account_id string, score double, anomaly_score double, flagged boolean,"
                " threshold double, model_version string, reasons string, learned_intent_share double"
            ),
            "distillwatch.models.scores:account_scores",
            write="day",
            partition="event_date",
            suite=ACCOUNT_SCORES,
            doc="the champion's (or the fallback scorer's) score of each account-day",
        ),
        # --- gold: the campaign family, built by one day's campaigns_day
        Table(
            CAMPAIGNS,
            "gold",
            "campaigns",
            columns(
                "campaign_id string, first_seen date, last_seen date, actor string, status string,"
                " merged_into string, split_from string, updated_on date"
            ),
            "distillwatch.pipelines.campaigns:campaigns",
            write="merge",
            key=("campaign_id",),
            suite=CAMPAIGNS,
            doc="one row per campaign ever seen (MERGEd daily): lifetime, actor, status",
        ),
        Table(
            CAMPAIGN_MEMBERS,
            "gold",
            "campaigns",
            columns(
                "event_date date, campaign_id string, account_id string, member_score double,"
                " link_evidence double, member_reasons array<string>"
            ),
            _CAMPAIGNS_DAY,
            write="day",
            partition="event_date",
            suite=CAMPAIGN_MEMBERS,
            doc="the accounts of each campaign-day, with the evidence that linked them",
        ),
        Table(
            CAMPAIGN_EXCHANGES,
            "gold",
            "campaigns",
            columns("event_date date, campaign_id string, request_id string, account_id string"),
            _CAMPAIGNS_DAY,
            write="day",
            partition="event_date",
            suite=CAMPAIGN_EXCHANGES,
            doc="the exchanges attributed to each campaign-day",
        ),
        Table(
            CAMPAIGN_INDICATORS,
            "gold",
            "campaigns",
            columns(
                "event_date date, campaign_id string, ind_type string, ind_value string, n_accounts long"
            ),
            _CAMPAIGNS_DAY,
            write="day",
            partition="event_date",
            suite=CAMPAIGN_INDICATORS,
            doc="the indicator values each campaign-day's members share",
        ),
        Table(
            CAMPAIGN_ATTRIBUTION_DAILY,
            "gold",
            "campaigns",
            columns(
                "event_date date, campaign_id string, actor string, confidence double, n_accounts long,"
                " n_exchanges long, first_seen date, status string, top_capability string,"
                " capability_mix string, cot_share double, rubric_share double, sensitive_share double,"
                " new_model_share double, population_new_model_share double, release_pivot boolean,"
                " shared_infrastructure string, evidence string"
            ),
            _CAMPAIGNS_DAY,
            write="day",
            partition="event_date",
            suite=CAMPAIGN_ATTRIBUTION_DAILY,
            doc="the daily campaign attribution table analysts query",
        ),
        Table(
            INDICATOR_POPULARITY_DAILY,
            "state",
            "campaigns",
            columns("event_date date, ind_type string, ind_value string, n_accounts long, n_unrelated long"),
            _CAMPAIGNS_DAY,
            write="day",
            partition="event_date",
            suite=INDICATOR_POPULARITY_DAILY,
            doc="per day, how many accounts (and unrelated ones) used each shared value",
        ),
        # --- analyst review: what analysts decided, binding on every later run
        Table(
            ANALYST_DECISIONS,
            "state",
            "decisions",
            columns(
                "decision_id string, decided_at timestamp, analyst string, action string,"
                " campaign_id string, account_id string, other_account_id string, actor string,"
                " label string, reason string, revokes string, scope_accounts array<string>,"
                " scope_indicators array<string>"
            ),
            "distillwatch.pipelines.decisions:analyst_decisions",
            write="append",
            doc="one analyst decision (who, when, why); never updated, a later one revokes it",
        ),
        Table(
            DECISION_LABELS,
            "state",
            "decisions",
            columns(
                "account_id string, label string, actor string, campaign string, decided_at timestamp,"
                " decision_id string, provenance string, candidate boolean"
            ),
            "distillwatch.pipelines.decisions:decision_labels",
            write="replace",
            doc="an account's label from a decision (training label) or spread to a linked account (candidate)",
        ),
        # --- gold: impact and enforcement
        Table(
            CAMPAIGN_IMPACT_DAILY,
            "gold",
            "impact",
            columns(
                "event_date date, campaign_id string, capability string, model string, n_exchanges long,"
                " input_tokens long, output_tokens long, total_exchanges long, total_input_tokens long,"
                " total_output_tokens long, first_seen date"
            ),
            "distillwatch.pipelines.impact:campaign_impact_daily",
            write="day",
            partition="event_date",
            suite=CAMPAIGN_IMPACT_DAILY,
            doc="what a campaign harvested on a day per capability and model, and since first seen",
        ),
        Table(
            ENFORCEMENT_ACTIONS,
            "gold",
            "enforcement",
            columns(
                "event_date date, account_id string, action string, campaign_id string, actor string,"
                " campaign_confidence double, score double, member_score double,"
                " reason_codes array<string>, evidence string, campaign_exchanges long,"
                " collateral_exchanges long, policy string"
            ),
            "distillwatch.pipelines.enforcement:enforcement_actions",
            write="day",
            partition="event_date",
            suite=ENFORCEMENT_ACTIONS,
            doc="the action recommended for an account on a day, with reason codes, evidence and collateral",
        ),
        # --- operations: rows the runtime writes about its own runs
        Table(
            INGEST_LOG,
            "ops",
            "ingest",
            columns(
                "run_id string, delivery_date date, status string, files long, corrupt_files long,"
                " unrecognised_files long, read long, new long, duplicates long, quarantined long,"
                " quarantined_by_reason string, event_dates string, account_rows long,"
                " dimension_quarantined long, started_at timestamp, finished_at timestamp, message string"
            ),
            "distillwatch.jobs.ingest:ingest",
            write="append",
            doc=(
                "two rows per ingest run: status 'started' when it begins, then 'complete' (reconciled:"
                " read = new + duplicates + quarantined) or 'unchanged' (the delivery's files are those"
                " of its last complete run); a delivery whose last row is 'started' is incomplete"
            ),
        ),
        Table(
            INGEST_FILES,
            "ops",
            "ingest",
            columns(
                "run_id string, delivery_date date, path string, file_name string, size_bytes long,"
                " checksum string, format string, outcome string, reason string, read long,"
                " accepted long, new long, duplicates long, quarantined long, ingested_at timestamp"
            ),
            "distillwatch.jobs.ingest:ingest",
            write="append",
            doc=(
                "one row per file of a delivery and ingest run, with its outcome ('ingested',"
                " 'corrupt_file', 'unrecognised_file'): read = new + duplicates + quarantined per file"
            ),
        ),
        Table(
            DQ_RESULTS,
            "ops",
            "quality",
            columns(
                "run_id string, table_name string, event_date date, expectation string,"
                " expectation_type string, column_name string, critical boolean, success boolean,"
                " observed_value string, details string, mode string, validated_at timestamp"
            ),
            "distillwatch.quality.gate:record_results",
            write="append",
            partition="event_date",
            doc="every expectation of every validation (one row per run_id and expectation)",
        ),
        Table(
            RUNS,
            "ops",
            "daily",
            columns(
                "run_id string, run_date date, step string, status string, started_at timestamp,"
                " finished_at timestamp, duration_s double, counts string, message string, host string"
            ),
            "distillwatch.jobs.daily:run_day",
            write="append",
            doc="one row per daily step run: status, duration, rows written per table",
        ),
    )
}


def table(name: str) -> Table:
    """The catalog entry of ``name``; a clear error for a name that is not published."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a table of the catalog (distillwatch.tables)") from None


def schema(name: str) -> StructType:
    return table(name).schema


def subset(name: str, *cols: str) -> StructType:
    """The catalog schema of ``name`` narrowed to ``cols``, in that order (test fixtures,
    projections of earlier state)."""
    full = schema(name)
    missing = [c for c in cols if c not in full.fieldNames()]
    if missing:
        raise KeyError(f"{name} has no column(s) {', '.join(missing)}")
    return StructType([full[c] for c in cols])


def raw_text_tables() -> tuple[Table, ...]:
    """The tables that hold raw prompt text, each with the columns that do."""
    return tuple(t for t in CATALOG.values() if t.raw_text)


def schema_drift(name: str, actual: StructType) -> list[str]:
    """How ``actual`` differs from the catalog schema of ``name`` (names and types; order and
    nullability are not compared): an empty list when it conforms."""
    want = {f.name: f.dataType for f in schema(name).fields}
    have = {f.name: f.dataType for f in actual.fields}
    problems = [f"missing {n} {t.simpleString()}" for n, t in want.items() if n not in have]
    problems += [f"unexpected {n} {t.simpleString()}" for n, t in have.items() if n not in want]
    problems += [
        f"{n} is {have[n].simpleString()}, the catalog says {t.simpleString()}"
        for n, t in want.items()
        if n in have and have[n] != t
    ]
    return problems
