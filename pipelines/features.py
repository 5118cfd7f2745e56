"""silver_exchanges of one event date -> account_daily_features (one row per account per day).

Every feature of day D reads only silver rows of D (themselves enriched point-in-time)
and model releases up to D. Cross-account features (infrastructure sharing, near-
duplicate share, synchronisation) group on the shared value, never join accounts
pairwise, so their cost grows with exchanges, not with accounts squared. Hub values
(a mobile carrier's prefix, a popular user agent) simply give large counts.

Multi-day evidence (:func:`with_rolling_evidence`): the ``*_7d`` and ``*_28d`` columns add
to the day's own counts those of the same account's published feature rows of the 6 or 27
days before (point in time: nothing after D). They are sums over one narrow row per
account-day, so a campaign spread thin over many days and accounts adds up without any
pairwise step, at the cost of one grouped read of at most 27 days of this table.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from distillwatch.pipelines.silver import INTEL_KEYS

SHARED_VALUES: dict[str, str] = {
    "n_accounts_same_prefix": "ip_prefix",
    "n_accounts_same_payment": "payment_fp",
    "n_accounts_same_tls": "tls_fp",
    "n_accounts_same_user_agent": "user_agent",
    "n_accounts_same_email_domain": "email_domain",
}
SYNC_KEYS = ("payment_fp", "ip_prefix")


def _entropy(counts_df: DataFrame, keys: list[str], name: str) -> DataFrame:
    """Shannon entropy (bits) of the ``n`` column over ``keys`` per account."""
    w = Window.partitionBy(*keys)
    p = F.col("n") / F.sum("n").over(w)
    return counts_df.withColumn("_p", p).groupBy(*keys).agg((-F.sum(F.col("_p") * F.log2("_p"))).alias(name))


def _share(cond: Column) -> Column:
    return F.avg(F.coalesce(cond, F.lit(False)).cast("double"))


def _base(s: DataFrame, newest_model: Column) -> DataFrame:
    """Per-account aggregates that need one pass over the account's exchanges.

    Only declarative aggregates (sums, counts, maxima): one hash aggregation with a
    map-side partial aggregation, no per-account sets. The distinct hours are a 24-bit
    mask; distinct templates, prefixes and ASNs come from the groupings that need those
    rows anyway (:func:`_template_variety`, :func:`_sharing`).
    """
    hours = F.expr("CAST(bit_count(bit_or(shiftleft(1, hour(ts)))) AS BIGINT)")
    return s.groupBy("account_id").agg(
        F.count(F.lit(1)).alias("n_exchanges"),
        F.sum("input_tokens").alias("input_tokens"),
        F.sum("output_tokens").alias("output_tokens"),
        hours.alias("active_hours"),
        (hours / F.lit(24.0)).alias("hour_coverage"),
        _share(F.col("cot_elicitation")).alias("cot_share"),
        _share(F.col("rubric_grading")).alias("rubric_share"),
        _share(F.col("sensitive_rewrite")).alias("sensitive_share"),
        F.avg("n_messages").cast("double").alias("mean_turns"),
        _share(F.col("n_tools") > 0).alias("tools_share"),
        F.avg("tool_calls").cast("double").alias("mean_tool_calls"),
        _share(F.col("has_image")).alias("image_share"),
        _share(F.col("thinking")).alias("thinking_share"),
        F.avg("output_tokens").cast("double").alias("mean_output_tokens"),
        (F.sum("output_tokens") / F.nullif(F.sum("input_tokens"), F.lit(0)))
        .cast("double")
        .alias("output_input_ratio"),
        _share(F.col("status").between(400, 499)).alias("error_4xx_share"),
        _share(F.col("status") == 429).alias("rate_limited_share"),
        _share(F.col("model") == newest_model).alias("newest_model_share"),
        _share(F.col("is_new_model")).alias("new_model_share"),
        F.max("account_created_at").alias("_created"),
        F.max("signup_path").alias("signup_path"),
        F.max(F.col("verified").cast("double")).alias("verified"),
        _share(F.col("ip_country") != F.col("billing_country")).alias("country_mismatch_share"),
        _share(F.col("is_hosting")).alias("hosting_ip_share"),
        _share(F.col("is_proxy")).alias("proxy_ip_share"),
        F.count_if(F.size("intel_types") > 0).alias("intel_matches"),
        F.max("intel_confidence").alias("intel_max_confidence"),
        *[F.count_if(F.array_contains("intel_types", t)).alias(f"intel_matches_{t}") for t in INTEL_KEYS],
    )


def _timing(s: DataFrame) -> DataFrame:
    """Hour-of-day entropy, and the coefficient of variation and burstiness of inter-arrival gaps.

    ``gap_cv`` = std/mean of the gaps in seconds; ``burstiness`` = (std - mean)/(std + mean)
    (-1 periodic, 0 Poisson, towards 1 bursty). Null with fewer than two gaps.
    """
    hours = _entropy(s.groupBy("account_id", F.hour("ts").alias("h")).agg(F.count(F.lit(1)).alias("n")),
                     ["account_id"], "hour_entropy")  # fmt: skip
    w = Window.partitionBy("account_id").orderBy("ts", "request_id")
    gaps = s.select(
        "account_id",
        (F.col("ts").cast("double") - F.lag(F.col("ts").cast("double")).over(w)).alias("gap"),
    ).where(F.col("gap").isNotNull())
    stats = gaps.groupBy("account_id").agg(
        F.count(F.lit(1)).alias("_n"), F.avg("gap").alias("_mu"), F.stddev_pop("gap").alias("_sd")
    )
    ok = (F.col("_n") >= 2) & (F.col("_mu") > 0)
    stats = stats.select(
        "account_id",
        F.when(ok, F.col("_sd") / F.col("_mu")).alias("gap_cv"),
        F.when(ok, (F.col("_sd") - F.col("_mu")) / (F.col("_sd") + F.col("_mu"))).alias("burstiness"),
    )
    return hours.join(stats, "account_id", "left")


def _templates(s: DataFrame) -> DataFrame:
    """Exchanges ``n`` per (account, template); the template's LSH bands ride along (they
    are a function of the template, so they do not split a group)."""
    return s.groupBy("account_id", "template_hash", "lsh_bands").agg(F.count(F.lit(1)).alias("n"))


def _template_variety(tmpl: DataFrame) -> DataFrame:
    """``top_template_share`` and ``distinct_templates_per_exchange`` from :func:`_templates`."""
    return tmpl.groupBy("account_id").agg(
        (F.max("n") / F.sum("n")).alias("top_template_share"),
        (F.count_if(F.col("template_hash").isNotNull()) / F.sum("n")).alias(
            "distinct_templates_per_exchange"
        ),
    )


def _content(s: DataFrame) -> DataFrame:
    """Template and capability concentration, and the near-duplicate share.

    An exchange is a near-duplicate when its exact template or one of its LSH band keys
    was used that day by at least one other account (grouping on the band key). The bands
    are a function of the template (``pipelines.fingerprint``), so the keys are exploded
    from the account's distinct templates, not from every exchange.
    """
    tmpl = _templates(s)
    tw = Window.partitionBy("account_id")
    top_t = _template_variety(tmpl)
    t_ent = _entropy(tmpl, ["account_id"], "template_entropy")

    cap = s.groupBy("account_id", "capability").agg(F.count(F.lit(1)).alias("n"))
    c_ent = _entropy(cap, ["account_id"], "capability_entropy")
    rank = Window.partitionBy("account_id").orderBy(F.col("n").desc(), F.col("capability"))
    top_c = (
        cap.withColumn("_share", F.col("n") / F.sum("n").over(tw))
        .withColumn("_rn", F.row_number().over(rank))
        .where("_rn = 1")
        .select(
            "account_id",
            F.col("capability").alias("top_capability"),
            F.col("_share").alias("top_capability_share"),
        )
    )

    # One row per (account, template, key); a template without a hash gives one null key
    # and stays in the denominator. A key is shared when its smallest and largest account
    # differ: one window over the key, not a count per key joined back (which shuffles the
    # exploded rows twice).
    bands = F.coalesce(F.col("lsh_bands"), F.array().cast("array<bigint>"))
    keys = tmpl.select(
        "account_id",
        "template_hash",
        "n",
        F.explode(F.array_union(F.array(F.col("template_hash")), bands)).alias("k"),
    )
    by_key = Window.partitionBy("k")
    shared = F.col("k").isNotNull() & (F.min("account_id").over(by_key) != F.max("account_id").over(by_key))
    near = (
        keys.withColumn("_shared", shared)
        .groupBy("account_id", "template_hash")
        .agg(F.max("_shared").alias("_dup"), F.max("n").alias("n"))
        .groupBy("account_id")
        .agg((F.sum(F.when(F.col("_dup"), F.col("n")).otherwise(0)) / F.sum("n")).alias("near_dup_share"))
    )
    return (
        top_t.join(t_ent, "account_id")
        .join(c_ent, "account_id")
        .join(top_c, "account_id")
        .join(near, "account_id")
    )


def _sharing(s: DataFrame) -> DataFrame:
    """For each shared value kind: the most other accounts active that day on one of the account's values.

    Free-mail e-mail domains are not shared infrastructure and count 0. All five kinds in
    one pass: (account, kind, value) rows, a count over each (kind, value) window, and a group-by on
    the account with one conditional max per kind (three shuffles, not five of each). The
    same rows give the account's distinct prefixes and ASNs (``n_prefixes``, ``n_asns``).
    Accounts without any value are absent: :func:`account_daily_features` fills 0.
    """
    values = []
    for name, column in {**SHARED_VALUES, "_asn": "asn"}.items():
        value = F.col(column).cast("string")
        if column == "email_domain":
            value = F.when(~F.coalesce(F.col("is_free_mail"), F.lit(False)), value)
        values.append(F.struct(F.lit(name).alias("kind"), value.alias("v")))
    pairs = (
        s.select("account_id", F.explode(F.array(*values)).alias("_kv"))
        .select("account_id", "_kv.kind", "_kv.v")
        .where(F.col("v").isNotNull())
        .distinct()
    )
    # accounts per value as a window count: the rows are already one per (account, value)
    return (
        pairs.withColumn("_n", F.count(F.lit(1)).over(Window.partitionBy("kind", "v")))
        .groupBy("account_id")
        .agg(
            *[(F.max(F.when(F.col("kind") == name, F.col("_n"))) - 1).alias(name) for name in SHARED_VALUES],
            F.count_if(F.col("kind") == "n_accounts_same_prefix").alias("n_prefixes"),
            F.count_if(F.col("kind") == "_asn").alias("n_asns"),
        )
    )


SHARING_COLUMNS = (*SHARED_VALUES, "n_prefixes", "n_asns")


def _sync(s: DataFrame) -> DataFrame:
    """Lockstep of the accounts sharing one value of a :data:`SYNC_KEYS` column: per account
    ``sync_score``, the highest over its values (accounts in no group of two are absent).

    Per group of accounts on one value, over the group's active minutes in time order:
    ``evenness`` (normalised entropy of minutes per member), ``exclusivity`` (share of
    minutes with exactly one member active) and ``switching`` (share of consecutive
    exclusive minutes whose member differs). Their product is 1 for accounts taking turns
    round-robin minute by minute and low for independent users. A group has at most 1440
    minutes, so hub values stay cheap. Both key columns together: (kind, value, account,
    minute) rows.
    """
    g = ["kind", "v"]
    kv = F.array(*[F.struct(F.lit(k).alias("kind"), F.col(k).cast("string").alias("v")) for k in SYNC_KEYS])
    rows = (
        s.select("account_id", F.date_trunc("minute", "ts").alias("m"), F.explode(kv).alias("_kv"))
        .select("_kv.kind", "_kv.v", "account_id", "m")
        .where(F.col("v").isNotNull())
    )
    # Groups of two or more accounts first, from the narrow (kind, value, account) rows; only
    # their members' minutes are kept. After the join on (kind, value) every later grouping
    # (member, minute, the minute order) is within one (kind, value): no further shuffle.
    members = (
        rows.select(*g, "account_id").distinct().groupBy(*g).agg(F.count(F.lit(1)).alias("k")).where("k >= 2")
    )
    am = rows.join(members, g).distinct()
    per_member = am.groupBy(*g, "k", "account_id").agg(F.count(F.lit(1)).alias("n"))
    even = (
        _entropy(per_member, g, "_h")
        .join(members, g)
        .select(*g, (F.col("_h") / F.log2(F.col("k").cast("double"))).alias("evenness"))
    )
    # ``_who`` is only compared for equality: a 64-bit hash of the account keeps the
    # aggregation hash-based (a min over strings makes Spark sort every row instead).
    minutes = am.groupBy(*g, "m").agg(
        F.count(F.lit(1)).alias("_c"), F.min(F.xxhash64("account_id")).alias("_who")
    )
    w = Window.partitionBy(*g).orderBy("m")
    minutes = minutes.withColumn("_sole", F.when(F.col("_c") == 1, F.col("_who")))
    minutes = minutes.withColumn("_prev", F.lag("_sole").over(w))
    turn = minutes.groupBy(*g).agg(
        _share(F.col("_c") == 1).alias("exclusivity"),
        F.avg(
            F.when(F.col("_sole").isNotNull() & F.col("_prev").isNotNull(), (F.col("_sole") != F.col("_prev")).cast("double"))
        ).alias("switching"),
    )  # fmt: skip
    score = even.join(turn, g).select(
        *g,
        # clamped: the entropy ratio can exceed 1 by a rounding error
        F.least(
            F.lit(1.0), F.col("evenness") * F.col("exclusivity") * F.coalesce(F.col("switching"), F.lit(0.0))
        ).alias("sync"),
    )
    return (
        per_member.select(*g, "account_id")
        .join(score, g)
        .groupBy("account_id")
        .agg(F.max("sync").alias("sync_score"))
    )


# The rolling windows, in days, the day itself included (column suffixes ``_7d``, ``_28d``).
SHORT_WINDOW, LONG_WINDOW = 7, 28
ROLLING_COLUMNS = (
    "active_days_7d",
    "active_days_28d",
    "n_exchanges_7d",
    "n_exchanges_28d",
    "cot_share_28d",
    "rubric_share_28d",
    "sensitive_share_28d",
    "content_flag_days_28d",
    "near_dup_share_28d",
    "thinking_share_28d",
    "tools_share_28d",
    "output_input_ratio_28d",
    "top_capability_days_28d",
)
# Shares that accumulate as exchange-weighted counts: share x n_exchanges, summed.
_WEIGHTED = (
    "cot_share",
    "rubric_share",
    "sensitive_share",
    "near_dup_share",
    "thinking_share",
    "tools_share",
)


def _flag_day(share_cols: tuple[str, ...] = ("cot_share", "rubric_share", "sensitive_share")) -> Column:
    """1 when any content flag fired on the account-day, else 0."""
    return (F.greatest(*[F.coalesce(F.col(c), F.lit(0.0)) for c in share_cols]) > 0).cast("bigint")


def with_rolling_evidence(today: DataFrame, prior: DataFrame | None, day: str | dt.date) -> DataFrame:
    """``today``'s feature rows with the rolling columns (:data:`ROLLING_COLUMNS`) added.

    ``prior`` is the published account_daily_features table (any days; only the 27 before
    ``day`` are read) or None on a first day. The history is read once and aggregated per
    (account, top capability), then those rows per account, so ``top_capability_days_28d``
    counts the days the account's top capability was today's one; ``today`` gets two left
    joins.
    """
    n = F.col("n_exchanges").cast("double")
    out = today
    if prior is None:  # a first day: the history adds nothing

        def h(name: str) -> Column:
            return F.lit(0.0)

    else:
        d = F.lit(str(day)).cast("date")
        window = (F.col("event_date") >= F.date_sub(d, LONG_WINDOW - 1)) & (F.col("event_date") < d)
        sums = {
            "_h_days_7": (F.col("event_date") >= F.date_sub(d, SHORT_WINDOW - 1)).cast("double"),
            "_h_days_28": F.lit(1.0),
            "_h_n_7": F.when(F.col("event_date") >= F.date_sub(d, SHORT_WINDOW - 1), n).otherwise(0.0),
            "_h_n_28": n,
            "_h_in_tok": F.col("input_tokens").cast("double"),
            "_h_out_tok": F.col("output_tokens").cast("double"),
            "_h_flag": _flag_day().cast("double"),
            **{f"_h_{c}_n": F.coalesce(F.col(c), F.lit(0.0)) * n for c in _WEIGHTED},
        }
        rows = prior.where(window).select(
            "account_id", "top_capability", *[e.alias(k) for k, e in sums.items()]
        )
        per_capability = rows.groupBy("account_id", "top_capability").agg(
            *[F.sum(k).alias(k) for k in sums], F.count(F.lit(1)).alias("_h_cap_days")
        )
        per_account = per_capability.groupBy("account_id").agg(*[F.sum(k).alias(k) for k in sums])
        out = today.join(per_account, "account_id", "left").join(
            per_capability.select("account_id", "top_capability", "_h_cap_days"),
            ["account_id", "top_capability"],
            "left",
        )

        def h(name: str) -> Column:
            return F.coalesce(F.col(name).cast("double"), F.lit(0.0))

    n_28 = n + h("_h_n_28")

    def share_28d(c: str) -> Column:
        return ((F.coalesce(F.col(c), F.lit(0.0)) * n + h(f"_h_{c}_n")) / n_28).cast("double")

    cols = {
        "active_days_7d": (1 + h("_h_days_7")).cast("bigint"),
        "active_days_28d": (1 + h("_h_days_28")).cast("bigint"),
        "n_exchanges_7d": (n + h("_h_n_7")).cast("bigint"),
        "n_exchanges_28d": n_28.cast("bigint"),
        **{f"{c}_28d": share_28d(c) for c in ("cot_share", "rubric_share", "sensitive_share")},
        "content_flag_days_28d": (_flag_day() + h("_h_flag")).cast("bigint"),
        **{f"{c}_28d": share_28d(c) for c in ("near_dup_share", "thinking_share", "tools_share")},
        "output_input_ratio_28d": (
            (F.col("output_tokens").cast("double") + h("_h_out_tok"))
            / F.nullif(F.col("input_tokens").cast("double") + h("_h_in_tok"), F.lit(0.0))
        ).cast("double"),
        "top_capability_days_28d": (1 + h("_h_cap_days")).cast("bigint"),
    }
    assert tuple(cols) == ROLLING_COLUMNS
    return out.select(*today.columns, *[expr.alias(name) for name, expr in cols.items()])


def account_daily_features(
    silver_day: DataFrame,
    model_releases: DataFrame,
    day: str | dt.date,
    prior_features: DataFrame | None = None,
) -> DataFrame:
    """account_daily_features rows of ``day``: one row per account active that day.

    ``prior_features`` (the published table, or None on a first day) feeds the rolling
    multi-day columns (:func:`with_rolling_evidence`)."""
    d = F.lit(str(day)).cast("date")
    s = silver_day.where(F.col("event_date") == d)
    day_end = F.to_timestamp(F.date_add(d, 1))
    newest = (
        model_releases.where(F.col("released_at") < day_end)
        .orderBy(F.col("released_at").desc(), F.col("model"))
        .limit(1)
        .select(F.col("model").alias("_newest"))
    )
    # a left join on true keeps the day's rows when no model is released yet
    s = s.join(F.broadcast(newest), F.lit(True), "left")
    base = _base(s, F.col("_newest"))
    out = (
        base.join(_timing(s), "account_id", "left")
        .join(_content(s), "account_id", "left")
        .join(_sharing(s), "account_id", "left")
        .join(_sync(s), "account_id", "left")
        .fillna(0, subset=[*SHARING_COLUMNS, "sync_score"])
        .withColumn("account_age_days", F.datediff(d, F.to_date("_created")).cast("bigint"))
        .drop("_created")
        .withColumn("event_date", d)
    )
    out = with_rolling_evidence(out, prior_features, day)
    first = ["event_date", "account_id"]
    return out.select(*first, *[c for c in out.columns if c not in first])
