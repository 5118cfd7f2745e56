"""Configuration: the defaults of the dataclasses below, overridden by ``conf/<env>.yaml``
(``local``, ``databricks``), parsed once into frozen typed objects. Unknown keys anywhere
are an error, so a typo never silently falls back to a default.

The dataclasses are the one place defaults live (each field's comment says what it
means). Each pipeline area owns one section (a dataclass below); to add a setting, add
the field, its default and its comment to that dataclass, and only an environment that
needs another value names the key in its file. An optional ``conf/base.yaml`` would hold
values that differ from the defaults in every environment (today there are none, so the
file does not exist); it must never repeat a default (``tests/test_config.py``).

The simulator's settings are not production configuration: see
``distillwatch.simulate.settings`` (``conf/simulate/world.yaml``).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from distillwatch.vocabulary import CAPABILITIES, CONTENT_TYPES, SIGNUP_PATHS

CONF_DIR_ENV = "DISTILLWATCH_CONF_DIR"
# Optional layer under every environment: values that differ from the dataclass defaults.
BASE_LAYER = "base"


class ConfigError(ValueError):
    """Configuration is malformed: unknown key, wrong type, missing file."""


@dataclass(frozen=True)
class SparkConf:
    """The Spark session (``distillwatch.spark``)."""

    # None: the platform's session (Databricks); no master is set.
    master: str | None = "local[*]"
    app_name: str = "distillwatch"
    # Shuffle partitions: small on a laptop, raise on a cluster (2-3x the cores).
    shuffle_partitions: int = 8
    driver_memory: str = "6g"
    # Delta jars: a folder of jars fetched once by the Makefile (None: use the platform's
    # own Delta, as on Databricks).
    jars_dir: str | None = None
    # Use Spark's embedded Hive metastore (Derby) under the lakehouse folder.
    local_metastore: bool = True
    # Further spark.* settings, passed to the session as they are.
    extra_conf: dict[str, str] = field(default_factory=dict)
    # How builders cut lineage (distillwatch.spark.materialise): "local" (localCheckpoint,
    # executor storage) or "reliable" (checkpoint to checkpoint_dir: clusters whose
    # executors can be lost).
    lineage: str = "local"
    # Reliable checkpoints' folder (None: <lakehouse>/_checkpoints).
    checkpoint_dir: str | None = None
    # A small day (its landing delivery at most this many bytes; 0 turns it off) runs its
    # daily steps with at most one shuffle partition (and Delta snapshot partition) per core
    # of the session instead of shuffle_partitions; a large day keeps its partitions. On a
    # 10,000-exchange day on 2 cores, 2 partitions instead of 8 cut the daily steps by ~13%
    # (docs/benchmarks.md, "The fixed-cost day, cut by a third").
    small_day_max_bytes: int = 32 * 2**20


@dataclass(frozen=True)
class PathsConf:
    landing: str = "data/world/landing"
    lakehouse: str = "data/lakehouse"
    # None: sqlite:///<state>/mlflow/mlflow.db (see state_dir); MLFLOW_TRACKING_URI overrides.
    # A lakehouse on object storage without a state_dir needs a server here (http(s)://...
    # or "databricks"): SQLite needs a POSIX file system (docs/object-storage.md).
    mlflow_tracking_uri: str | None = None
    # The model registry, when it is not the tracking store ("databricks-uc": Unity
    # Catalog, models named catalog.schema.model). None: the tracking URI;
    # MLFLOW_REGISTRY_URI overrides.
    mlflow_registry_uri: str | None = None
    # A local or mounted POSIX folder for the state an object store cannot hold: the SQLite
    # MLflow store and the embedded Derby metastore (spark.local_metastore). None: the
    # lakehouse folder itself when it is local; a lakehouse URI (s3a://, abfss://, gs://...)
    # needs it unless mlflow_tracking_uri is a server and spark.local_metastore is off.
    state_dir: str | None = None
    # MLflow artifacts (registered models): a folder or a URI MLflow writes (s3://, gs://,
    # abfss://, dbfs:/...). None: <state>/mlflow/artifacts. Not used with a "databricks"
    # tracking URI (the workspace keeps an experiment's artifacts).
    mlflow_artifact_root: str | None = None


@dataclass(frozen=True)
class LocksConf:
    """The day lease of ``daily``/``backfill`` (``distillwatch.locks``, docs/object-storage.md)."""

    # Leases live here: a path relative to the lakehouse, or an absolute folder or URI.
    dir: str = "_locks"
    # A lease its holder has not renewed for this many seconds is expired: another run may
    # take the day over (a killed run on another host blocks the day at most this long).
    lease_seconds: int = 600
    # The holder renews its lease this often, from a background thread.
    renew_seconds: int = 60


@dataclass(frozen=True)
class IngestConf:
    # A record whose ts is older than this many days before its delivery date is quarantined.
    max_lateness_days: int = 3
    # A ts later than the end of the delivery date plus this skew is "in the future".
    max_future_skew_minutes: int = 15
    # Parquet or JSONL files: glob patterns looked for in a delivery folder.
    exchange_globs: tuple[str, ...] = ("*.jsonl.gz", "*.jsonl", "*.parquet")
    # `daily` recomputes (features onwards) the earlier days that late records changed,
    # before the day's own downstream steps (jobs/daily.py, dirty_days): a day is dirty when
    # the records that landed after it was computed reach this share of its records (0: any
    # late record). Most gateways deliver a few records late every day (the simulator 2%,
    # over three days), and recomputing for each would double the downstream cost; a
    # delayed shard or a replayed file crosses 5% at once.
    reprocess_late: bool = True
    reprocess_min_late_share: float = 0.05


@dataclass(frozen=True)
class IntentConf:
    """The learned content-intent classifier trained with the account detector (``models.intent``)."""

    enabled: bool = True
    # Hashed character 2-4-grams inside word boundaries, in this many buckets.
    n_features: int = 262144
    # Inverse L2 strength of the logistic model, and its solver's iterations.
    c: float = 4.0
    max_iter: int = 200
    # An exchange counts towards learned_intent_share when its probability reaches
    # `threshold`, or, with a target_false_positive_rate above 0, the threshold calibrated at
    # training so that this share of the negatives' out-of-fold scores is above it (off by
    # default: not yet measured on the robustness worlds, see docs/evaluation.md).
    target_false_positive_rate: float = 0.0
    threshold: float = 0.5
    # The classifier reads the prompt's first this-many characters.
    max_chars: int = 1000
    # Training texts: the last this-many days up to --as-of (at most retention.raw_text_days,
    # the prompt text's lifetime), at most this many per class (a uniform sample), and
    # unlabelled traffic as negatives at least this many.
    lookback_days: int = 28
    max_texts_per_class: int = 40000
    min_unlabelled_negatives: int = 5000
    # Leave-one-language-out recall is measured for each language with this many positives.
    min_texts_per_language: int = 50
    holdout_days: int = 3
    seed: int = 11


@dataclass(frozen=True)
class ModelsConf:
    """Detection models: training, evaluation, promotion and batch scoring (issue 4)."""

    registered_model: str = "distillwatch-account-detector"
    experiment: str = "distillwatch-account-detector"
    # The last this-many days up to --as-of are the time-based holdout; the threshold and
    # promotion are measured on it.
    holdout_days: int = 3
    # The decision threshold is the lowest score whose holdout precision reaches this.
    target_precision: float = 0.95
    # A challenger takes `champion` only if its holdout PR-AUC beats the champion's by more.
    min_improvement: float = 0.0
    # Absolute floors every challenger must clear to be promoted, the first one included:
    # holdout PR-AUC, holdout recall at the calibrated target-precision threshold (0 when
    # the target is not reached), and the lowest leave-one-campaign-out recall where one
    # can be measured. A challenger below any floor is registered but not promoted: the
    # champion stays, or with none the fallback scorer.
    promote_min_pr_auc: float = 0.9
    promote_min_recall_at_target: float = 0.5
    promote_min_loco_recall: float = 0.3
    # Training refuses to run on fewer labelled positives/negatives than this.
    min_positives: int = 5
    min_negatives: int = 5
    # xgboost.spark; raise num_workers to the executors' task slots on a cluster.
    n_estimators: int = 60
    max_depth: int = 4
    learning_rate: float = 0.2
    num_workers: int = 1
    seed: int = 7
    leave_one_campaign_out: bool = True
    max_loco_campaigns: int = 10
    # Features never used (e.g. a column known to leak the label).
    exclude_features: tuple[str, ...] = ()
    # Fixed one-hot vocabularies of the string features; unseen values become
    # "<feature>=other". A string feature without a vocabulary is not used.
    categorical_levels: dict[str, list[str]] = field(
        default_factory=lambda: {
            "top_capability": list(CAPABILITIES),
            "signup_path": list(SIGNUP_PATHS),
        }
    )
    # Anomaly scorer: per-feature robust z-scores (median/IQR) clipped at this value,
    # combined as their RMS / clip, in [0, 1].
    anomaly_clip: float = 10.0
    anomaly_rel_error: float = 0.001
    # Fallback (no champion): flag when the anomaly score or the intel confidence reaches these.
    fallback_anomaly_threshold: float = 0.5
    fallback_intel_threshold: float = 0.8
    top_reasons: int = 3
    intent: IntentConf = field(default_factory=IntentConf)


@dataclass(frozen=True)
class AttributionConf:
    """Campaign discovery and attribution (pipelines/linkage, campaigns, attribution)."""

    # Seeds: flagged by the model, anomaly score at least this, or an intel hit at least
    # seed_intel_min_confidence (a low-confidence listing never seeds on its own).
    seed_anomaly_min: float = 0.9
    seed_intel_min_confidence: float = 0.5
    # A value links accounts only when at least hub_keep_seed_share of its accounts are
    # seeds, and it is used by at most hub_max_accounts accounts (more only when a
    # confident intel listing names it).
    hub_max_accounts: int = 50
    hub_keep_seed_share: float = 0.5
    # Content values (a reseller shares prompts with its customers) need a higher seed share.
    content_indicator_types: tuple[str, ...] = CONTENT_TYPES
    content_keep_seed_share: float = 0.75
    # ... and at least this many accounts: two accounts writing near-duplicate prompts is
    # common, and a 2-account content value is how a falsely flagged account bridges campaigns.
    content_min_accounts: int = 3
    # A content value seeds *touch*: at least content_touch_min_seeds seeds use it and they are
    # at least content_touch_seed_share of its users (a rotated operator's prompts when only a
    # few of its accounts are labelled). An unflagged account whose content values are mostly
    # dominated or touched by seeds (stranger_max_seed_affinity), with at least
    # loose_min_content_values of them, counts with the seeds in content_keep_seed_share.
    content_touch_min_seeds: int = 2
    content_touch_seed_share: float = 0.2
    # An account without shared infrastructure joins a group through content only with at
    # least this many distinct content values (one LSH band in common is a coincidence: an
    # eval lab shares one with a harvesting set by chance) ...
    loose_min_content_values: int = 3
    # ... from at least this many of its texts: one popular prompt a reseller also carries
    # is one text, though its template and MinHash bands are nine values.
    loose_min_content_texts: int = 2
    # Evidence weighed by how common a value is (a term-frequency adjustment): a value's
    # popularity is the most unrelated accounts (not seeds, not linked to seeds by
    # infrastructure, not campaign members) that used it on one day, today or within the
    # last popularity_lookback_days (table indicator_popularity_daily); its link weight is
    # 1 / (1 + popularity). Popular prompts (a HumanEval problem, a GSM8K question, an
    # "act as" prompt) are sent by many strangers and link nobody. Content values
    # (templates, LSH bands) link only with at least content_min_tf_weight, infrastructure
    # values with at least infra_min_tf_weight (from past days only: today the value itself
    # is what relates its users).
    popularity_lookback_days: int = 7
    content_min_tf_weight: float = 0.34
    # Today's strangers exclude accounts that mostly write seed-dominated content (an
    # operator's unflagged account): at least this share of their content values.
    stranger_max_seed_affinity: float = 0.5
    infra_min_tf_weight: float = 0.2
    # Member evidence: 1 - prod(1 - w) over an account's kept values, w = tf weight x the
    # type's weight (content values count content_edge_weight, infrastructure 1). An account
    # with less than member_min_evidence is not linked: weak members stay out.
    content_edge_weight: float = 0.5
    member_min_evidence: float = 0.6
    # Values shared by unrelated tenants of a cloud or NAT, or by every user of one SDK
    # (user agents), link only when listed.
    listed_only_indicator_types: tuple[str, ...] = ("ip_prefix", "asn", "user_agent")
    # Connected components: label propagation stops when no label changes or after this
    # many rounds.
    max_iterations: int = 20
    # Campaign signature: a template / LSH band used this often by this many members.
    signature_min_exchanges: int = 3
    signature_min_accounts: int = 2
    # ... and one the cluster's accounts are at least this share of the day's users of
    # (a hydra's resold customers write the same everyday prompts as everyone else).
    signature_min_value_share: float = 0.5
    # A request shape is the campaign's only when at least this share of the cluster's own
    # exchanges in it are signature traffic (a hydra's proxy client also carries its resold
    # customers' plain chat, a few of which are near-duplicates of the campaign's prompts).
    signature_min_shape_share: float = 0.5
    # Group seeds (no model, no intel needed): the accounts behind one controlled value
    # (client fingerprint, card, company e-mail domain) used by group_min_accounts to
    # hub_max_accounts accounts, mostly from hosting or proxy networks
    # (group_min_network_share), with at least group_min_signals of: sync, capability
    # focus, intent (the evidence thresholds below).
    group_seed_types: tuple[str, ...] = ("tls_fp", "payment_fp", "email_domain")
    group_min_accounts: int = 3
    group_min_network_share: float = 0.5
    group_min_signals: int = 1
    # ... and the accounts behind one content value (template, LSH band) used by
    # group_min_accounts to hub_max_accounts accounts whose traffic is on average at least this
    # share reasoning elicitation, rubric grading or sensitive rewrites (the content rules): an
    # operator that rotated every value it controls still sends its asks ...
    group_content_min_intent: float = 0.6
    # ... sending at least this many exchanges a day each on average, on a value strangers did
    # not make popular on a past day (content_min_tf_weight, today's users off the past peak).
    group_content_min_exchanges: float = 3.0
    # ... or whose accounts mostly (group_harvest_min_share) buy long answers with short asks
    # (mean output >= harvest_min_output_tokens, output/input >= harvest_min_ratio), at least
    # group_harvest_min_exchanges a day each on average: long answers are what ordinary writing
    # asks get too, so the volume bar is higher than an asking group's.
    group_harvest_min_share: float = 0.8
    group_harvest_min_exchanges: float = 8.0
    # Evidence filter: at least min_accounts accounts and at least min_signals of content,
    # capability, intent, sync, flagged and intel (the shares and thresholds below).
    min_accounts: int = 3
    min_signals: int = 3
    content_min_share: float = 0.2
    capability_min_share: float = 0.6
    intent_min_share: float = 0.3
    sync_min: float = 0.5
    flagged_min_share: float = 0.5
    # The learned classifier's view of intent (account_scores.learned_intent_share, when the
    # champion has one): the intent signal also holds when the members' mean reaches this, and a
    # cluster linked by content alone (no shared network, client or billing value) is kept without
    # strong intel when the detector flags at least content_only_min_flagged_share of its members
    # and their learned intent reaches content_only_min_learned_intent: an operator that rotated
    # its infrastructure, not developers sharing an SDK's prompts (those the detector does not
    # flag, and their prompts are not harvesting asks).
    learned_intent_min_share: float = 0.5
    # Harvest shape (discovery.harvest_shape): an exchange with at least harvest_min_output_tokens
    # out and harvest_min_ratio times its input. The signal holds when at least harvest_min_share
    # of the cluster's campaign traffic has it, and it stands for the learned intent in the
    # content-only rule below (a flagged operator harvesting worked answers in words no
    # classifier was trained on).
    harvest_min_output_tokens: int = 1000
    harvest_min_ratio: float = 8.0
    harvest_min_share: float = 0.6
    content_only_min_flagged_share: float = 0.8
    content_only_min_learned_intent: float = 0.6
    # ... or, before any model has learned the operator, when analysts labelled at least
    # content_only_min_labelled of its members distillation by one actor, or when at least
    # content_only_min_intent_share of its campaign traffic is reasoning elicitation, rubric
    # grading or sensitive rewrites by the content rules.
    content_only_min_labelled: int = 2
    content_only_min_intent_share: float = 0.6
    # ... or when at least content_only_min_harvest_share of its campaign traffic has the harvest
    # shape, at group_harvest_min_exchanges campaign exchanges a day per member or more.
    content_only_min_harvest_share: float = 0.8
    # One organisation holding this share of verified accounts is a legitimate group
    # (enterprise, university, eval lab) unless intel says otherwise.
    single_org_min_share: float = 0.8
    # Stable identity: a cluster continues a campaign seen within the lookback when
    # this share of its members or its indicators overlaps.
    identity_lookback_days: int = 7
    identity_min_overlap: float = 0.3
    # Actor: noisy-or confidence over distinct agreeing indicators.
    actor_min_confidence: float = 0.6
    actor_min_indicators: int = 2
    actor_single_indicator_min_confidence: float = 0.9
    prior_actor_weight: float = 0.6
    # An analyst's distillation label on a member names its actor with this confidence
    # (labelled accounts also seed the graph: pipelines.linkage.link_accounts).
    label_actor_confidence: float = 0.8
    # Release pivot: share of traffic within this many hours of a release.
    pivot_window_hours: int = 24
    pivot_min_share: float = 0.3
    pivot_min_lift: float = 1.5
    # Evidence JSON: how many top items per list.
    evidence_top_n: int = 5


@dataclass(frozen=True)
class QualityConf:
    """Data-quality gates (suites live in ``conf/expectations/<table>.yaml``)."""

    # Volume: the day's row count against the median of the trailing published days.
    volume_window_days: int = 7
    # With fewer published days than this the volume check has no baseline (passes).
    volume_min_history_days: int = 3
    # Below median * min_ratio is a collapse; above median * max_ratio a spike.
    volume_min_ratio: float = 0.5
    volume_max_ratio: float = 3.0
    # Freshness: a complete day's latest ts reaches at least day end minus this.
    freshness_lag_hours: float = 6.0
    # How many offending values a failed expectation reports (never for redacted columns).
    partial_unexpected_count: int = 5
    # Columns whose values (raw prompt text) must never reach dq_results or Data Docs.
    redacted_columns: tuple[str, ...] = ("prompt", "system_prompt")
    # Under the lakehouse (relative) or an absolute folder or URI: staged days (Delta, written
    # by Spark) and the Data Docs site (rendered locally, then copied through Hadoop FS when
    # the location is a URI).
    staging_dir: str = "_staging"
    # How a staged day is written: "parquet" (plain files, no Delta log to create and
    # replay: ~0.3 s a small table-day against ~1.6 s as Delta, measured 2026-12-04),
    # "delta", or "auto": Parquet on a local or mounted folder, Delta on an object store,
    # where a Parquet job commits by renaming (copying) its files.
    staging_format: str = "auto"
    data_docs_dir: str = "dq/data_docs"
    # Which gate runs render a Data Docs page: "failures" (a run with a failed expectation,
    # critical or warning), "all", or "none". Every outcome is in dq_results either way, and
    # `distillwatch validate` always renders. GX rebuilds the site's index on every page, so
    # "all" costs ~1 s per table-day on top (measured 2026-12-04, 10,000-exchange day).
    data_docs: str = "failures"
    # A staged day that failed its gate is kept for inspection (a passed one is removed).
    keep_failed_staging: bool = True


@dataclass(frozen=True)
class FeaturesConf:
    """silver_exchanges and account_daily_features (pipelines/silver.py, features.py)."""

    # Content rules: conf/patterns/<version>.yaml (the version is stored per silver row).
    patterns_version: str = "v2"
    # MinHash/LSH near-duplicates: num_hashes / band_rows bands; Jaccard s collides with
    # probability 1-(1-s^band_rows)^bands (0.89 at s=0.7, 0.06 at s=0.3 with 32/4).
    minhash_num_hashes: int = 32
    minhash_band_rows: int = 4
    minhash_shingle_size: int = 2
    minhash_max_tokens: int = 512
    minhash_seed: int = 7
    # is_new_model: an exchange within this many hours after the model's release.
    new_model_hours: int = 48


@dataclass(frozen=True)
class WarehouseConf:
    """SQL access: analyst views and the Thrift (HiveServer2) server of ``serve-sql``."""

    # Loopback by default. `serve-sql` refuses any other bind address while authentication
    # is "NONE": set "LDAP" (with ldap_url, and ldap_base_dn or ldap_domain) or "CUSTOM"
    # (custom_auth_class: a org.apache.hive.service.auth.PasswdAuthenticationProvider on
    # the server's class path) first; HiveServer2 then asks every client for a user and
    # password. docs/databricks.md and the README: "Query it".
    bind_host: str = "127.0.0.1"
    port: int = 10000
    authentication: str = "NONE"
    ldap_url: str | None = None
    ldap_base_dn: str | None = None
    ldap_domain: str | None = None
    custom_auth_class: str | None = None
    # Seconds `serve-sql --wait` polls for the port before giving up.
    start_timeout_s: int = 120
    # Rows `distillwatch sql` prints at most.
    max_rows: int = 200


@dataclass(frozen=True)
class ReportConf:
    """The daily HTML report (``distillwatch report``)."""

    # Volume-over-time and model-share plots cover this many days up to the report date.
    history_days: int = 14
    # Campaigns listed (by exchanges, descending) and plotted at most.
    max_campaigns: int = 20
    # Where `daily` writes report-<date>.html: relative to the lakehouse, or an absolute
    # folder or URI (written through Hadoop FS).
    dir: str = "reports"


@dataclass(frozen=True)
class RetentionConf:
    """``distillwatch maintain``: prompt retention, OPTIMIZE and VACUUM."""

    # Raw prompt text (the raw_text columns of the table catalog: prompt and system_prompt
    # of bronze_exchanges and silver_exchanges, the raw line of bronze_quarantine) is kept
    # for this many days of the table's partition date.
    raw_text_days: int = 30
    # "null_prompts": older rows stay, their raw-text columns become null; "delete": older
    # partitions of those tables are deleted.
    raw_text_action: str = "null_prompts"
    # VACUUM keeps files needed by readers/time travel for this many hours. Below 168 Delta's
    # safety check is switched off for the VACUUM (only safe with no long-running readers).
    vacuum_retain_hours: int = 168
    optimize: bool = True
    # Staging folders of the quality gate (<lakehouse>/_staging/<table>/<day>/<run>) older
    # than this are removed: what a run killed between staging and publishing leaves, and
    # failed days kept for inspection (quality.keep_failed_staging).
    staging_keep_hours: int = 48


@dataclass(frozen=True)
class SharingConf:
    """Indicator sharing in STIX 2.1 (``distillwatch stix-export``; partner bundles at ingest)."""

    # Our identity, the creator of every object we export.
    identity_name: str = "distillwatch"
    identity_class: str = "organization"
    # An exported indicator is valid from the campaign-day it was seen for this many days.
    valid_days: int = 30
    # The indicator types exported (campaign_indicators.ind_type): infrastructure and prompt
    # template fingerprints; near-duplicate bands are too fuzzy to share.
    export_types: tuple[str, ...] = (
        "ip_prefix",
        "asn",
        "payment_fp",
        "tls_fp",
        "user_agent",
        "email_domain",
        "template_hash",
    )
    # Landing folder of partners' STIX bundles (*.json), read beside threat_intel/*.jsonl.
    landing_dir: str = "threat_intel_stix"
    # Confidence of a partner indicator that states none.
    default_confidence: float = 0.5


@dataclass(frozen=True)
class EnforcementConf:
    """The policy behind ``enforcement_actions``: thresholds in the order they are tried,
    the strongest action first; an account gets the first whose conditions it meets."""

    # suspend: a member of a campaign attributed with at least this confidence (or confirmed
    # by an analyst) whose member score reaches suspend_min_score
    suspend_min_confidence: float = 0.9
    suspend_min_score: float = 0.8
    # rate_limit: a member of an attributed campaign (confidence >= rate_limit_min_confidence),
    # or any account scored at least rate_limit_min_score
    rate_limit_min_confidence: float = 0.6
    rate_limit_min_score: float = 0.95
    # require_verification: any other campaign member, or a flagged unverified account
    # monitor: a flagged account that is neither
    # A hydra account (one reselling access to real customers) is never suspended when
    # more than this share of its exchanges is not campaign traffic: rate_limit instead.
    max_collateral_share_to_suspend: float = 0.2


@dataclass(frozen=True)
class Config:
    spark: SparkConf = field(default_factory=SparkConf)
    paths: PathsConf = field(default_factory=PathsConf)
    locks: LocksConf = field(default_factory=LocksConf)
    # The metastore database (schema) the tables are registered in.
    database: str = "distillwatch"
    # The catalog above it: tables are registered as <catalog>.<database>.<table> (Unity
    # Catalog: e.g. "main"; external tables at the lakehouse's cloud storage paths, never
    # on /Volumes). None: the session's current catalog (locally spark_catalog, the
    # embedded Derby metastore), two-level names <database>.<table>.
    catalog: str | None = None
    ingest: IngestConf = field(default_factory=IngestConf)
    models: ModelsConf = field(default_factory=ModelsConf)
    attribution: AttributionConf = field(default_factory=AttributionConf)
    quality: QualityConf = field(default_factory=QualityConf)
    features: FeaturesConf = field(default_factory=FeaturesConf)
    warehouse: WarehouseConf = field(default_factory=WarehouseConf)
    report: ReportConf = field(default_factory=ReportConf)
    retention: RetentionConf = field(default_factory=RetentionConf)
    sharing: SharingConf = field(default_factory=SharingConf)
    enforcement: EnforcementConf = field(default_factory=EnforcementConf)
    env: str = "local"


def repo_conf_dir() -> Path:
    """The configuration folder: ``$DISTILLWATCH_CONF_DIR``, else the installed ``distillwatch.conf``.

    ``distillwatch.conf`` is the repo's ``conf/`` (environments, patterns, expectation
    suites, simulator settings), shipped in the wheel as package data; in a checkout it is the
    ``conf/`` folder itself. Installed wheels are unpacked on disk, so its files are plain paths.
    """
    env = os.environ.get(CONF_DIR_ENV)
    if env:
        return Path(env)
    return Path(str(resources.files("distillwatch.conf")))


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "extra_conf":
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and build nested dataclasses."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(non_none[0], value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping")
        return {str(k): _coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list")
        inner = args[0] if args else Any
        items = [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, got {value!r}")
    return value


def from_mapping(cls: Any, raw: dict[str, Any], where: str) -> Any:
    """Build the frozen dataclass ``cls`` from ``raw`` (a parsed YAML mapping): fields not
    in ``raw`` keep their defaults; unknown keys and wrong types are a :class:`ConfigError`
    naming ``where`` (the file or section)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    return _build(cls, raw, where)


def _build(cls: Any, raw: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}") for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where}: {exc}") from exc


def environments(conf_dir: Path | None = None) -> list[str]:
    """The environments of ``conf_dir``: its ``<env>.yaml`` files (``base.yaml`` is none)."""
    conf_dir = conf_dir or repo_conf_dir()
    return sorted(p.stem for p in conf_dir.glob("*.yaml") if p.stem != BASE_LAYER)


def _read_layer(file: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def load_config(env: str = "local", conf_dir: Path | None = None) -> Config:
    """The dataclass defaults, overridden by ``base.yaml`` where it exists and then by
    ``<env>.yaml``, as a frozen :class:`Config`."""
    conf_dir = conf_dir or repo_conf_dir()
    env_file = conf_dir / f"{env}.yaml"
    if env == BASE_LAYER or not env_file.is_file():
        raise ConfigError(f"unknown environment {env!r}: no {env_file} (known: {environments(conf_dir)})")
    base_file = conf_dir / f"{BASE_LAYER}.yaml"
    raw = _read_layer(base_file) if base_file.is_file() else {}
    raw = _deep_merge(raw, _read_layer(env_file))
    if "env" in raw:
        raise ConfigError(f"{env_file}: 'env' is not a setting (it is the environment's file name)")
    raw["env"] = env
    cfg: Config = _build(Config, raw, "conf")
    return cfg
