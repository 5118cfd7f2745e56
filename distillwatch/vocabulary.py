"""The vocabularies every layer shares, spelled once (plain Python: the renderer and the
configuration use them without Spark). :mod:`distillwatch.contract` re-exports them."""

SIGNUP_PATHS = (
    "self_serve",
    "education",
    "security_research",
    "startup_program",
    "enterprise",
    "cloud_partner",
)
INDICATOR_TYPES = ("ip_prefix", "asn", "payment_fp", "email_domain", "tls_fp", "user_agent", "prompt_example")
# Indicators an operator controls (network, client, billing, sign-up); the others are content.
INFRA_TYPES = ("ip_prefix", "asn", "payment_fp", "tls_fp", "user_agent", "email_domain")
# The content indicators of the linkage graph (pipelines/linkage.py): a prompt's normalised
# template and the keys of its banded MinHash.
CONTENT_TYPES = ("template_hash", "lsh_band")
LABELS = ("distillation", "benign")
# The capability classes of silver_exchanges.capability (pipelines/intent.py), in the
# order the report's capability-mix plot stacks them.
CAPABILITIES = (
    "coding",
    "agentic_tool_use",
    "reasoning_math",
    "data_analysis",
    "vision_computer_use",
    "writing_chat",
    "translation",
    "other",
)
# What an analyst can decide (analyst_decisions.action; `distillwatch review`).
DECISION_ACTIONS = ("confirm", "dismiss", "must_link", "cannot_link", "label", "revoke")
# Recommended enforcement actions (enforcement_actions.action), mildest first.
ENFORCEMENT_LEVELS = ("monitor", "require_verification", "rate_limit", "suspend")
