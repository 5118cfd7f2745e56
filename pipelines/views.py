"""SQL text of the analyst views in the warehouse database.

Each view lists its columns explicitly (never ``SELECT *``), so a column added upstream
reaches analysts only when someone adds it here, and raw prompt text (which lives only
in ``silver_exchanges``) can never leak through a view. ``jobs/sql.create_views`` runs
these statements after every publish.
"""

from __future__ import annotations

from collections.abc import Callable

from distillwatch import tables

# Columns no view may expose (raw prompt text stays in silver_exchanges).
# No view exposes a raw-text column of any table (the catalog's ``raw_text``).
FORBIDDEN_COLUMNS: tuple[str, ...] = tuple(sorted({c for t in tables.raw_text_tables() for c in t.raw_text}))

ATTRIBUTION_COLUMNS = (
    "event_date",
    "campaign_id",
    "actor",
    "confidence",
    "status",
    "first_seen",
    "n_accounts",
    "n_exchanges",
    "top_capability",
    "capability_mix",
    "cot_share",
    "rubric_share",
    "sensitive_share",
    "new_model_share",
    "population_new_model_share",
    "release_pivot",
    "shared_infrastructure",
    "evidence",
)

_FEATURE_COLUMNS = (
    "n_exchanges",
    "top_capability",
    "top_capability_share",
    "cot_share",
    "rubric_share",
    "sensitive_share",
    "top_template_share",
    "near_dup_share",
    "sync_score",
    "intel_matches",
    "intel_max_confidence",
    "n_accounts_same_payment",
    "n_accounts_same_prefix",
)


def _cols(alias: str, names: tuple[str, ...], prefix: str = "") -> str:
    return ",\n  ".join(f"{alias}.`{n}` AS `{prefix}{n}`" for n in names)


def _q(database: str, table: str) -> str:
    return f"`{database}`.`{table}`"


def v_campaigns_today_sql(database: str) -> str:
    """One row per campaign active on the latest published day, with its lifecycle."""
    daily = _q(database, tables.CAMPAIGN_ATTRIBUTION_DAILY)
    return f"""CREATE OR REPLACE VIEW {_q(database, "v_campaigns_today")} AS
SELECT
  {_cols("d", ATTRIBUTION_COLUMNS)},
  c.`last_seen` AS `last_seen`,
  c.`split_from` AS `split_from`
FROM {daily} d
LEFT JOIN {_q(database, tables.CAMPAIGNS)} c ON c.`campaign_id` = d.`campaign_id`
WHERE d.`event_date` = (SELECT max(`event_date`) FROM {daily})"""


def v_campaign_history_sql(database: str) -> str:
    """One row per campaign per day it was active: volume, actor and confidence over
    time, with the campaign's current lifecycle (merged into / split from)."""
    return f"""CREATE OR REPLACE VIEW {_q(database, "v_campaign_history")} AS
SELECT
  d.`event_date` AS `event_date`,
  d.`campaign_id` AS `campaign_id`,
  d.`actor` AS `actor`,
  d.`confidence` AS `confidence`,
  d.`n_accounts` AS `n_accounts`,
  d.`n_exchanges` AS `n_exchanges`,
  d.`top_capability` AS `top_capability`,
  d.`new_model_share` AS `new_model_share`,
  d.`release_pivot` AS `release_pivot`,
  c.`first_seen` AS `first_seen`,
  c.`last_seen` AS `last_seen`,
  c.`status` AS `current_status`,
  c.`merged_into` AS `merged_into`,
  c.`split_from` AS `split_from`
FROM {_q(database, tables.CAMPAIGN_ATTRIBUTION_DAILY)} d
LEFT JOIN {_q(database, tables.CAMPAIGNS)} c ON c.`campaign_id` = d.`campaign_id`"""


def v_account_evidence_sql(database: str) -> str:
    """One row per (day, campaign, member account): why the account is in the campaign,
    its detector score and reasons, and the features attribution relies on."""
    return f"""CREATE OR REPLACE VIEW {_q(database, "v_account_evidence")} AS
SELECT
  m.`event_date` AS `event_date`,
  m.`campaign_id` AS `campaign_id`,
  m.`account_id` AS `account_id`,
  m.`member_score` AS `member_score`,
  s.`score` AS `score`,
  s.`anomaly_score` AS `anomaly_score`,
  s.`flagged` AS `flagged`,
  s.`model_version` AS `model_version`,
  s.`reasons` AS `reasons`,
  {_cols("f", _FEATURE_COLUMNS, prefix="f_")}
FROM {_q(database, tables.CAMPAIGN_MEMBERS)} m
LEFT JOIN {_q(database, tables.ACCOUNT_SCORES)} s
  ON s.`event_date` = m.`event_date` AND s.`account_id` = m.`account_id`
LEFT JOIN {_q(database, tables.ACCOUNT_DAILY_FEATURES)} f
  ON f.`event_date` = m.`event_date` AND f.`account_id` = m.`account_id`"""


def v_late_arrivals_sql(database: str) -> str:
    """Per event date and delivery date: the records that arrived after their event date,
    when they landed, and whether the day was computed again since (``runs``)."""
    return f"""CREATE OR REPLACE VIEW {_q(database, "v_late_arrivals")} AS
SELECT
  b.`event_date` AS `event_date`,
  b.`delivery_date` AS `delivery_date`,
  datediff(b.`delivery_date`, b.`event_date`) AS `days_late`,
  count(b.`request_id`) AS `exchanges`,
  min(b.`ingested_at`) AS `landed_at`,
  max(r.`last_features_at`) AS `last_features_at`,
  coalesce(max(r.`last_features_at`) > min(b.`ingested_at`), false) AS `recomputed`
FROM {_q(database, tables.BRONZE_EXCHANGES)} b
LEFT JOIN (
  SELECT `run_date`, max(`started_at`) AS `last_features_at`
  FROM {_q(database, tables.RUNS)}
  WHERE `step` = 'features' AND `status` = 'ok'
  GROUP BY `run_date`
) r ON r.`run_date` = b.`event_date`
WHERE b.`delivery_date` > b.`event_date`
GROUP BY b.`event_date`, b.`delivery_date`"""


def v_ingest_files_sql(database: str) -> str:
    """Each delivery's files as its latest ingest run saw them: outcome, reason and counts."""
    files = _q(database, tables.INGEST_FILES)
    return f"""CREATE OR REPLACE VIEW {_q(database, "v_ingest_files")} AS
SELECT
  f.`delivery_date` AS `delivery_date`,
  f.`file_name` AS `file_name`,
  f.`format` AS `format`,
  f.`size_bytes` AS `size_bytes`,
  f.`checksum` AS `checksum`,
  f.`outcome` AS `outcome`,
  f.`reason` AS `reason`,
  f.`read` AS `read`,
  f.`new` AS `new`,
  f.`duplicates` AS `duplicates`,
  f.`quarantined` AS `quarantined`,
  f.`run_id` AS `run_id`,
  f.`ingested_at` AS `ingested_at`
FROM {files} f
WHERE f.`ingested_at` = (
  SELECT max(g.`ingested_at`) FROM {files} g WHERE g.`delivery_date` = f.`delivery_date`
)"""


# view name -> (builder, tables it reads)
VIEWS: dict[str, tuple[Callable[[str], str], tuple[str, ...]]] = {
    "v_campaigns_today": (v_campaigns_today_sql, (tables.CAMPAIGN_ATTRIBUTION_DAILY, tables.CAMPAIGNS)),
    "v_campaign_history": (v_campaign_history_sql, (tables.CAMPAIGN_ATTRIBUTION_DAILY, tables.CAMPAIGNS)),
    "v_account_evidence": (
        v_account_evidence_sql,
        (tables.CAMPAIGN_MEMBERS, tables.ACCOUNT_SCORES, tables.ACCOUNT_DAILY_FEATURES),
    ),
    "v_late_arrivals": (v_late_arrivals_sql, (tables.BRONZE_EXCHANGES, tables.RUNS)),
    "v_ingest_files": (v_ingest_files_sql, (tables.INGEST_FILES,)),
}


def view_statements(database: str) -> dict[str, str]:
    """``CREATE OR REPLACE VIEW`` text of every analyst view, by view name."""
    return {name: builder(database) for name, (builder, _) in VIEWS.items()}


def view_sources(name: str) -> tuple[str, ...]:
    """The tables view ``name`` reads (a view is created only when all exist)."""
    return VIEWS[name][1]


def all_tables() -> list[str]:
    """Every table name of :mod:`distillwatch.tables` (what the warehouse registers)."""
    return [v for k, v in vars(tables).items() if k.isupper() and isinstance(v, str)]


# --- review, impact and enforcement views
def v_campaign_impact_sql(database: str) -> str:
    """One row per campaign per day: exchanges and tokens harvested that day and since first
    seen (the sums of ``campaign_impact_daily`` over capabilities and models)."""
    return f"""CREATE OR REPLACE VIEW {_q(database, "v_campaign_impact")} AS
SELECT
  i.`event_date` AS `event_date`,
  i.`campaign_id` AS `campaign_id`,
  min(i.`first_seen`) AS `first_seen`,
  sum(i.`n_exchanges`) AS `n_exchanges`,
  sum(i.`input_tokens`) AS `input_tokens`,
  sum(i.`output_tokens`) AS `output_tokens`,
  sum(i.`total_exchanges`) AS `total_exchanges`,
  sum(i.`total_input_tokens`) AS `total_input_tokens`,
  sum(i.`total_output_tokens`) AS `total_output_tokens`
FROM {_q(database, tables.CAMPAIGN_IMPACT_DAILY)} i
GROUP BY i.`event_date`, i.`campaign_id`"""


def v_pending_reviews_sql(database: str) -> str:
    """The latest day's campaigns no analyst has confirmed or dismissed (a revoked decision
    leaves its campaign pending again)."""
    daily = _q(database, tables.CAMPAIGN_ATTRIBUTION_DAILY)
    decisions = _q(database, tables.ANALYST_DECISIONS)
    return f"""CREATE OR REPLACE VIEW {_q(database, "v_pending_reviews")} AS
SELECT
  d.`event_date` AS `event_date`,
  d.`campaign_id` AS `campaign_id`,
  d.`actor` AS `actor`,
  d.`confidence` AS `confidence`,
  d.`status` AS `status`,
  d.`n_accounts` AS `n_accounts`,
  d.`n_exchanges` AS `n_exchanges`
FROM {daily} d
WHERE d.`event_date` = (SELECT max(`event_date`) FROM {daily})
  AND d.`campaign_id` NOT IN (
    SELECT r.`campaign_id` FROM {decisions} r
    WHERE r.`action` IN ('confirm', 'dismiss') AND r.`campaign_id` IS NOT NULL
      AND r.`decision_id` NOT IN (
        SELECT x.`revokes` FROM {decisions} x WHERE x.`action` = 'revoke' AND x.`revokes` IS NOT NULL
      )
  )"""


def v_enforcement_today_sql(database: str) -> str:
    """The actions recommended on the latest published day, strongest first."""
    actions = _q(database, tables.ENFORCEMENT_ACTIONS)
    cols = ("event_date", "account_id", "action", "campaign_id", "actor", "campaign_confidence", "score",
            "member_score", "reason_codes", "campaign_exchanges", "collateral_exchanges", "policy")  # fmt: skip
    return f"""CREATE OR REPLACE VIEW {_q(database, "v_enforcement_today")} AS
SELECT
  {_cols("a", cols)}
FROM {actions} a
WHERE a.`event_date` = (SELECT max(`event_date`) FROM {actions})"""


VIEWS.update(
    {
        "v_campaign_impact": (v_campaign_impact_sql, (tables.CAMPAIGN_IMPACT_DAILY,)),
        "v_pending_reviews": (
            v_pending_reviews_sql,
            (tables.CAMPAIGN_ATTRIBUTION_DAILY, tables.ANALYST_DECISIONS),
        ),
        "v_enforcement_today": (v_enforcement_today_sql, (tables.ENFORCEMENT_ACTIONS,)),
    }
)
