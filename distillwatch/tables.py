"""Names of every table the pipeline writes: the one place they are spelled."""

# bronze
BRONZE_EXCHANGES = "bronze_exchanges"
BRONZE_QUARANTINE = "bronze_quarantine"
INGEST_LOG = "ingest_log"
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
# operations
DQ_RESULTS = "dq_results"
RUNS = "runs"
