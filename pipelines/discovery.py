"""From linked clusters to campaigns: which exchanges of a cluster are the campaign's own
traffic, which clusters carry campaign evidence, and which existing campaign each one
continues (stable ``campaign_id`` across days, merges and splits recorded).

All functions are pure DataFrame transformations; ``jobs/attribute.py`` wires them.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from distillwatch.config import AttributionConf
from distillwatch.pipelines.linkage import tf_weight
from distillwatch.spark import materialise
from distillwatch.vocabulary import INFRA_TYPES

# Columns of silver_exchanges attribution reads. Never ``prompt``/``system_prompt``:
# raw text stays in silver_exchanges.
EXCHANGE_COLUMNS = (
    "request_id",
    "event_date",
    "ts",
    "account_id",
    "org_id",
    "verified",
    "model",
    "model_released_at",
    "is_new_model",
    "ip_prefix",
    "asn",
    "payment_fp",
    "user_agent",
    "tls_fp",
    "n_messages",
    "n_tools",
    "has_image",
    "input_tokens",
    "output_tokens",
    "template_hash",
    "lsh_bands",
    "cot_elicitation",
    "rubric_grading",
    "sensitive_rewrite",
    "capability",
    "intel_actor",
    "intel_confidence",
    "intel_types",
)


def _intent(prefix: str = "") -> Column:
    return (
        F.coalesce(F.col(f"{prefix}cot_elicitation"), F.lit(False))
        | F.coalesce(F.col(f"{prefix}rubric_grading"), F.lit(False))
        | F.coalesce(F.col(f"{prefix}sensitive_rewrite"), F.lit(False))
    )


def harvest_shape(conf: AttributionConf) -> Column:
    """The exchange bought a long answer with a short ask: at least
    ``harvest_min_output_tokens`` out and ``harvest_min_ratio`` times its input. What a
    distiller pays for is the answer (worked solutions, reasoning, derivations); rotating
    networks, clients and cards does not change it, and ordinary users' traffic is mostly
    short answers or long inputs (code, documents, agent transcripts)."""
    out = F.coalesce(F.col("output_tokens"), F.lit(0))
    ask = F.coalesce(F.col("input_tokens"), F.lit(0))
    return (out >= conf.harvest_min_output_tokens) & (out >= ask * F.lit(conf.harvest_min_ratio))


def request_shape() -> Column:
    """The request's shape, a 64-bit hash: the client (user agent, TLS fingerprint),
    whether it sends tools or an image, and the conversation length in powers of two.
    A campaign's harvester sends a few shapes over and over; the customers a proxy
    resells to, or the account owner's own use, send others. Never the text."""
    msgs = F.floor(F.log2(F.greatest(F.coalesce(F.col("n_messages"), F.lit(1)), F.lit(1)))).cast("int")
    return F.xxhash64(
        F.coalesce(F.col("user_agent"), F.lit("")),
        F.coalesce(F.col("tls_fp"), F.lit("")),
        F.coalesce(F.col("n_tools"), F.lit(0)) > 0,
        F.coalesce(F.col("has_image"), F.lit(False)),
        F.least(msgs, F.lit(6)),
    )


def member_exchanges(exchanges: DataFrame, clusters: DataFrame) -> DataFrame:
    """One row per exchange of an account in a seeded cluster (no prompt text), with
    its :func:`request_shape`."""
    return (
        exchanges.select(*EXCHANGE_COLUMNS)
        .withColumn("request_shape", request_shape())
        .join(clusters.select("cluster_id", "account_id", "is_seed"), "account_id")
    )


def shape_accounts(exchanges: DataFrame, shapes: DataFrame) -> DataFrame:
    """Per request shape of ``shapes`` (a small set: the shapes of the clusters'
    signature traffic), how many accounts sent it today (``shape_accounts``). One scan
    of the day, filtered by a broadcast of the shapes, and a group-by."""
    return (
        exchanges.select("account_id", request_shape().alias("request_shape"))
        .join(F.broadcast(shapes.select("request_shape").distinct()), "request_shape")
        .groupBy("request_shape", "account_id")
        .agg(F.count(F.lit(1)).alias("_n"))
        .groupBy("request_shape")
        .agg(F.count(F.lit(1)).alias("shape_accounts"))
    )


def content_value_accounts(
    indicators: DataFrame, conf: AttributionConf, baseline: DataFrame | None = None
) -> DataFrame:
    """Per content value (template hash, LSH band) of the day: how many accounts used it
    (``value_accounts``) and, given the popularity ``baseline``
    (:func:`pipelines.linkage.popularity_baseline`), the most unrelated accounts that used
    it on one past day (``base_popularity``). ``indicators`` has one row per (account,
    type, value) (:func:`pipelines.linkage.account_indicators`), so a row count is the
    account count: one group-by, no distinct aggregation."""
    counts = (
        indicators.where(F.col("ind_type").isin(*conf.content_indicator_types))
        .groupBy("ind_type", "ind_value")
        .agg(F.count(F.lit(1)).alias("value_accounts"))
    )
    if baseline is None:
        counts = counts.withColumn("base_popularity", F.lit(0).cast("bigint"))
    else:
        counts = counts.join(baseline, ["ind_type", "ind_value"], "left")
    return counts.select(
        F.col("ind_type").alias("sig_type"),
        F.col("ind_value").alias("sig_value"),
        "value_accounts",
        F.coalesce(F.col("base_popularity"), F.lit(0)).alias("base_popularity"),
    )


def campaign_signatures(
    mx: DataFrame, conf: AttributionConf, value_accounts: DataFrame | None = None
) -> DataFrame:
    """One row per (cluster, signature value): a template hash or LSH band that the
    cluster's accounts use at least ``signature_min_exchanges`` times from at least
    ``signature_min_accounts`` accounts. Resold one-off traffic mixed in by a proxy
    rarely repeats across accounts, the campaign's templated harvesting does.

    With ``value_accounts`` (:func:`content_value_accounts`), a value is part of the
    signature only when the cluster's accounts are at least ``signature_min_value_share``
    of all accounts that used it that day: a hydra proxy's resold customers write the
    same everyday prompts (chat, homework, writing) as thousands of ordinary users, so
    those values belong to the population, not to the campaign, even when the proxy's
    accounts repeat them. Nor is a value that many unrelated accounts used on a past day
    (``base_popularity`` with a tf weight below ``content_min_tf_weight``): a popular
    benchmark question a proxy's customers resend is not the campaign's. The cluster's own
    accounts that use the value are taken off that past peak: before the day a campaign was
    caught, its accounts were strangers too, and its own history must not hide it.
    """
    templates = mx.where(F.col("template_hash").isNotNull()).select(
        "cluster_id",
        "account_id",
        F.lit("template_hash").alias("sig_type"),
        F.col("template_hash").cast("string").alias("sig_value"),
    )
    bands = mx.select(
        "cluster_id",
        "account_id",
        F.lit("lsh_band").alias("sig_type"),
        F.explode(F.transform("lsh_bands", lambda b: b.cast("string"))).alias("sig_value"),
    )
    sigs = (
        templates.unionByName(bands)
        .groupBy("cluster_id", "sig_type", "sig_value")
        .agg(F.count(F.lit(1)).alias("sig_exchanges"), F.countDistinct("account_id").alias("sig_accounts"))
        .where(
            (F.col("sig_exchanges") >= conf.signature_min_exchanges)
            & (F.col("sig_accounts") >= conf.signature_min_accounts)
        )
    )
    if value_accounts is None:
        return sigs
    if "base_popularity" not in value_accounts.columns:
        value_accounts = value_accounts.withColumn("base_popularity", F.lit(0))
    return (
        sigs.join(value_accounts, ["sig_type", "sig_value"], "left")
        .where(
            (
                F.col("sig_accounts")
                >= F.coalesce(F.col("value_accounts"), F.col("sig_accounts")) * conf.signature_min_value_share
            )
            # the cluster's own accounts may be the past days' strangers (unflagged then)
            & (
                tf_weight(F.greatest(F.col("base_popularity") - F.col("sig_accounts"), F.lit(0)))
                >= conf.content_min_tf_weight
            )
        )
        .drop("value_accounts", "base_popularity")
    )


def split_campaign_traffic(
    mx: DataFrame,
    signatures: DataFrame,
    exchanges: DataFrame | None = None,
    conf: AttributionConf | None = None,
) -> DataFrame:
    """``mx`` plus ``is_campaign`` and ``match`` (template | near_duplicate |
    request_shape | capability_focus).

    Inside a cluster only its own traffic is campaign traffic: its signature templates,
    near-duplicates of them (a shared LSH band), exchanges in one of the campaign's own
    request shapes, or intent-flagged traffic in the campaign's capability focus (the
    top capability of its signature traffic).

    With the day's ``exchanges`` and ``conf``, a request shape (:func:`request_shape`) is
    the campaign's when its signature traffic sends it at least
    ``signature_min_exchanges`` times from ``signature_min_accounts`` accounts and the
    cluster's accounts are at least ``signature_min_value_share`` of the accounts that
    sent it that day: a harvester's own client, not an SDK everyone uses; and at least
    ``signature_min_shape_share`` of the cluster's own exchanges in that shape are signature
    traffic: a hydra's proxy client sends the campaign and its resold customers alike, and
    the few resold prompts that happen to be near-duplicates of the campaign's must not make
    the customers' shape (plain chat, no tools) the campaign's. An exchange of a
    member in such a shape is campaign traffic even when its text is popular or new (a
    benchmark question many strangers also send); a proxy's resold customers and an
    owner's own use arrive in other shapes and stay out.
    """
    tmpl = signatures.where(F.col("sig_type") == "template_hash").select(
        "cluster_id", F.col("sig_value").alias("_t"), F.lit(True).alias("_tmatch")
    )
    band = signatures.where(F.col("sig_type") == "lsh_band").select(
        "cluster_id", F.col("sig_value").alias("_b")
    )
    near = (
        mx.select(
            "cluster_id",
            "request_id",
            F.explode(F.transform("lsh_bands", lambda b: b.cast("string"))).alias("_b"),
        )
        .join(band, ["cluster_id", "_b"])
        .select("cluster_id", "request_id")
        .distinct()
        .withColumn("_nmatch", F.lit(True))
    )
    tagged = (
        mx.withColumn("_t", F.col("template_hash").cast("string"))
        .join(tmpl, ["cluster_id", "_t"], "left")
        .join(near, ["cluster_id", "request_id"], "left")
        .withColumn("_sig", F.coalesce("_tmatch", F.lit(False)) | F.coalesce("_nmatch", F.lit(False)))
    )
    focus = (
        tagged.where("_sig")
        .groupBy("cluster_id", "capability")
        .agg(F.count(F.lit(1)).alias("_n"))
        .withColumn(
            "_r", F.row_number().over(Window.partitionBy("cluster_id").orderBy(F.desc("_n"), "capability"))
        )
        .where("_r = 1")
        .select("cluster_id", F.col("capability").alias("focus_capability"))
    )
    tagged = tagged.join(focus, "cluster_id", "left")
    shape_match = F.lit(False)
    if exchanges is not None and conf is not None:
        tagged = tagged.join(
            campaign_shapes(tagged, exchanges, conf), ["cluster_id", "request_shape"], "left"
        )
        shape_match = F.coalesce(F.col("_smatch"), F.lit(False))
    match = (
        F.when(F.coalesce("_tmatch", F.lit(False)), "template")
        .when(F.coalesce("_nmatch", F.lit(False)), "near_duplicate")
        .when(shape_match, "request_shape")
        .when((F.col("capability") == F.col("focus_capability")) & _intent(), "capability_focus")
    )
    return (
        tagged.withColumn("match", match)
        .withColumn("is_campaign", F.col("match").isNotNull())
        .drop("_t", "_tmatch", "_nmatch", "_sig", "_smatch")
    )


def campaign_shapes(tagged: DataFrame, exchanges: DataFrame, conf: AttributionConf) -> DataFrame:
    """(cluster_id, request_shape, ``_smatch``): the request shapes that are a cluster's
    own (see :func:`split_campaign_traffic`). ``tagged`` is the member traffic with its
    signature flag ``_sig``. Group-bys over member traffic and one filtered group-by over
    the day; the result has a few rows per cluster."""
    candidates = (
        tagged.where("_sig")
        .groupBy("cluster_id", "request_shape")
        .agg(F.count(F.lit(1)).alias("_sn"), F.countDistinct("account_id").alias("_sa"))
        .where((F.col("_sn") >= conf.signature_min_exchanges) & (F.col("_sa") >= conf.signature_min_accounts))
    )
    senders = tagged.groupBy("cluster_id", "request_shape").agg(
        F.countDistinct("account_id").alias("_ca"), F.count(F.lit(1)).alias("_tn")
    )
    return (
        candidates.join(senders, ["cluster_id", "request_shape"])
        .where(F.col("_sn") >= F.col("_tn") * conf.signature_min_shape_share)
        .join(shape_accounts(exchanges, candidates), "request_shape")
        .where(F.col("_ca") >= F.col("shape_accounts") * conf.signature_min_value_share)
        .select("cluster_id", "request_shape", F.lit(True).alias("_smatch"))
    )


def _top_share(df: DataFrame, key: str, name: str) -> DataFrame:
    """Per cluster: the most common ``key`` value and its share of the rows."""
    counts = df.groupBy("cluster_id", key).agg(F.count(F.lit(1)).alias("_n"))
    w = Window.partitionBy("cluster_id")
    return (
        counts.withColumn("_tot", F.sum("_n").over(w))
        .withColumn("_r", F.row_number().over(w.orderBy(F.desc("_n"), F.col(key).cast("string"))))
        .where("_r = 1")
        .select("cluster_id", F.col(key).alias(name), (F.col("_n") / F.col("_tot")).alias(f"{name}_share"))
    )


def cluster_evidence(
    traffic: DataFrame,
    features: DataFrame,
    hits: DataFrame,
    cluster_edges: DataFrame,
    conf: AttributionConf,
    scores: DataFrame | None = None,
    labelled: DataFrame | None = None,
) -> DataFrame:
    """One row per seeded cluster with its campaign evidence and the keep decision.

    Members are the cluster's accounts with campaign traffic. Signals: content (share
    of member traffic matching the signature), capability focus, intent flags,
    synchronisation, flagged share, strong intel. A cluster is a campaign with
    ``min_accounts`` members and ``min_signals`` signals, except a legitimate group
    (verified accounts mostly of one organisation: an enterprise, a university, an eval
    lab) which needs strong intel, and a cluster linked by content alone (no network,
    client, billing or sign-up value shared by two members: developers using the same SDK
    prompts, say), which needs strong intel too. An operator runs its accounts from
    something it controls; prompt similarity alone is not an operator.

    An operator that rotates its infrastructure (residential prefixes, ordinary clients, a
    card per account) leaves a cluster linked by content alone; such a cluster is kept
    without intel when the detector flags most of its members and the learned content-intent
    classifier (``scores.learned_intent_share``) reads their traffic as harvesting asks:
    the detector was trained on labelled operators, and developers who share an SDK's
    prompts are neither flagged nor asking for reasoning or grades. The learned intent also
    counts as the intent signal when the rules see none (paraphrased asks). Before any model
    has learned the operator, a content-linked cluster is also kept when analysts labelled at
    least ``content_only_min_labelled`` of its members distillation by one actor
    (``labelled``: account_id, actor), or when at least ``content_only_min_intent_share`` of
    its campaign traffic is reasoning elicitation, rubric grading or sensitive rewrites by the
    content rules: a group harvesting the model's reasoning, not developers sharing prompts.

    ``cluster_edges``: the kept linkage edges with their ``cluster_id``.
    """
    camp = traffic.where("is_campaign")
    members = camp.groupBy("cluster_id", "account_id").agg(
        F.count(F.lit(1)).alias("n_campaign"),
        F.max(F.col("is_seed").cast("int")).alias("is_seed"),
        F.max("org_id").alias("org_id"),  # one org per account; max is order-free
        F.max(F.coalesce(F.col("verified"), F.lit(False)).cast("int")).alias("verified"),
    )
    sync = features.select("account_id", F.coalesce(F.col("sync_score"), F.lit(0.0)).alias("sync_score"))
    if scores is not None and "learned_intent_share" in scores.columns:
        learned = scores.select(
            "account_id",
            F.col("learned_intent_share").alias("_learned"),
            F.coalesce(F.col("flagged"), F.lit(False)).cast("double").alias("_model_flagged"),
        )
    else:
        learned = features.select(
            "account_id", F.lit(None).cast("double").alias("_learned"), F.lit(0.0).alias("_model_flagged")
        )
    per_cluster = (
        members.join(sync, "account_id", "left")
        .join(learned, "account_id", "left")
        .groupBy("cluster_id")
        .agg(
            F.count(F.lit(1)).alias("n_accounts"),
            F.avg("is_seed").alias("flagged_share"),
            F.avg("verified").alias("verified_share"),
            F.avg(F.coalesce(F.col("sync_score"), F.lit(0.0))).alias("sync_mean"),
            F.avg("_learned").alias("learned_intent_mean"),
            F.avg(F.coalesce(F.col("_model_flagged"), F.lit(0.0))).alias("model_flagged_share"),
        )
    )
    org = _top_share(members.fillna({"org_id": "<none>"}), "org_id", "top_org")
    volume = traffic.groupBy("cluster_id").agg(
        F.count(F.lit(1)).alias("n_member_exchanges"),
        F.count(F.when(F.col("is_campaign"), 1)).alias("n_exchanges"),
        F.count(F.when(F.col("match") == "template", 1)).alias("n_template"),
        F.count(F.when(F.col("match") == "near_duplicate", 1)).alias("n_near_duplicate"),
    )
    flags = camp.groupBy("cluster_id").agg(
        F.avg(F.coalesce("cot_elicitation", F.lit(False)).cast("double")).alias("cot_share"),
        F.avg(F.coalesce("rubric_grading", F.lit(False)).cast("double")).alias("rubric_share"),
        F.avg(F.coalesce("sensitive_rewrite", F.lit(False)).cast("double")).alias("sensitive_share"),
        F.avg(_intent().cast("double")).alias("intent_share"),
        F.avg(harvest_shape(conf).cast("double")).alias("harvest_share"),
    )
    cap = _top_share(camp, "capability", "top_capability")
    tmpl = _top_share(camp.where(F.col("template_hash").isNotNull()), "template_hash", "top_template").drop(
        "top_template"
    )
    intel = (
        hits.join(members.select("cluster_id", "account_id"), "account_id")
        .groupBy("cluster_id")
        .agg(
            F.countDistinct("ind_type", "ind_value").alias("intel_indicators"),
            F.max("confidence").alias("intel_max_confidence"),
        )
    )
    infra = (
        cluster_edges.where(F.col("ind_type").isin(*INFRA_TYPES))
        .groupBy("cluster_id", "ind_type", "ind_value")
        .agg(F.countDistinct("account_id").alias("_n"))
        .where(F.col("_n") >= 2)
        .groupBy("cluster_id")
        .agg(F.count(F.lit(1)).alias("shared_infra_values"))
    )
    if labelled is not None:
        by_actor = (
            labelled.where(F.col("actor").isNotNull())
            .select("account_id", "actor")
            .distinct()
            .join(members.select("cluster_id", "account_id"), "account_id")
            .groupBy("cluster_id", "actor")
            .agg(F.count(F.lit(1)).alias("_n"))
        )
        labels = by_actor.groupBy("cluster_id").agg(F.max("_n").alias("labelled_members"))
    else:
        labels = per_cluster.select("cluster_id", F.lit(0).cast("bigint").alias("labelled_members"))
    ev = (
        per_cluster.join(org, "cluster_id", "left")
        .join(labels, "cluster_id", "left")
        .join(infra, "cluster_id", "left")
        .join(volume, "cluster_id")
        .join(flags, "cluster_id", "left")
        .join(cap, "cluster_id", "left")
        .join(tmpl, "cluster_id", "left")
        .join(intel, "cluster_id", "left")
        .fillna(
            {
                "intel_indicators": 0,
                "intel_max_confidence": 0.0,
                "top_template_share": 0.0,
                "shared_infra_values": 0,
                "labelled_members": 0,
                "harvest_share": 0.0,
            }
        )
        .withColumn(
            "content_share", (F.col("n_template") + F.col("n_near_duplicate")) / F.col("n_member_exchanges")
        )
    )
    intel_strong = (F.col("intel_indicators") >= conf.actor_min_indicators) | (
        F.col("intel_max_confidence") >= conf.actor_single_indicator_min_confidence
    )
    signals = {
        "content": F.col("content_share") >= conf.content_min_share,
        "capability": F.col("top_capability_share") >= conf.capability_min_share,
        "intent": (F.col("intent_share") >= conf.intent_min_share)
        | (F.coalesce(F.col("learned_intent_mean"), F.lit(0.0)) >= conf.learned_intent_min_share),
        "sync": F.col("sync_mean") >= conf.sync_min,
        "harvest": F.col("harvest_share") >= conf.harvest_min_share,
        "flagged": F.col("flagged_share") >= conf.flagged_min_share,
        "intel": intel_strong,
    }
    signal_list = F.filter(
        F.array(*[F.when(F.coalesce(c, F.lit(False)), F.lit(n)) for n, c in signals.items()]),
        lambda s: s.isNotNull(),
    )
    legit_group = (
        (F.col("top_org") != "<none>")
        & (F.col("top_org_share") >= conf.single_org_min_share)
        & (F.col("verified_share") >= conf.single_org_min_share)
    )
    # the detector flags the members, and the learned classifier reads their asks as harvesting
    # or their traffic is mostly long answers bought with short asks
    model_strong = (F.col("model_flagged_share") >= conf.content_only_min_flagged_share) & (
        (F.coalesce(F.col("learned_intent_mean"), F.lit(0.0)) >= conf.content_only_min_learned_intent)
        | (F.col("harvest_share") >= conf.harvest_min_share)
    )
    # analysts' labels on its members; once the champion carries the learned classifier (trained
    # on those labels) the members' traffic must also read as harvesting: labels name an
    # operator, they do not vouch for the strangers shared content linked to a few of its accounts
    label_strong = (F.col("labelled_members") >= conf.content_only_min_labelled) & (
        F.col("learned_intent_mean").isNull()
        | (F.col("learned_intent_mean") >= conf.learned_intent_min_share)
    )
    # the content rules reading its traffic as harvesting asks, or long answers bought with short
    # asks at a harvester's volume
    asks_strong = F.coalesce(F.col("intent_share"), F.lit(0.0)) >= conf.content_only_min_intent_share
    harvest_strong = (F.col("harvest_share") >= conf.content_only_min_harvest_share) & (
        F.col("n_exchanges") >= F.col("n_accounts") * F.lit(conf.group_harvest_min_exchanges)
    )
    ev = (
        ev.withColumn("signals", signal_list)
        .withColumn("legit_group", legit_group)
        .withColumn("intel_strong", intel_strong)
        .withColumn("model_strong", model_strong)
        .withColumn("label_strong", label_strong)
        .withColumn("asks_strong", asks_strong)
        .withColumn("harvest_strong", harvest_strong)
    )
    reject = (
        F.when(F.col("n_accounts") < conf.min_accounts, "too_few_accounts")
        .when(F.size("signals") < conf.min_signals, "too_few_signals")
        .when(F.col("legit_group") & ~F.col("intel_strong"), "single_organisation_group")
        .when(
            (F.col("shared_infra_values") == 0)
            & ~(
                F.col("intel_strong")
                | F.col("model_strong")
                | F.col("label_strong")
                | F.col("asks_strong")
                | F.col("harvest_strong")
            ),
            "content_only_link",
        )
    )
    return ev.withColumn("reject_reason", reject).withColumn("is_campaign", F.col("reject_reason").isNull())


def new_campaign_id(day: Column, cluster_id: Column) -> Column:
    """Deterministic id of a campaign founded today: ``C-`` + hash of (day, founding member)."""
    return F.concat(
        F.lit("C-"), F.substring(F.sha2(F.concat_ws("|", day.cast("string"), cluster_id), 256), 1, 12)
    )


def match_identity(
    today_members: DataFrame,
    today_indicators: DataFrame,
    prev_members: DataFrame,
    prev_indicators: DataFrame,
    day: str,
    conf: AttributionConf,
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Give each of today's campaign clusters its campaign_id.

    Inputs: today's (cluster_id, account_id) and (cluster_id, ind_type, ind_value);
    the latest earlier (campaign_id, account_id) and (campaign_id, ind_type, ind_value).
    Overlap of a (cluster, campaign) pair = the larger of shared members / the smaller
    member set and shared indicators / the smaller indicator set (equi-joins on account
    and value, never all pairs). A cluster continues its best campaign with overlap of
    at least ``identity_min_overlap`` (most shared members and indicators first); when several clusters continue one campaign (a
    split) the best keeps the id and the others are new with ``split_from``; other
    campaigns a cluster overlaps (a merge) get ``merged_into``.

    Returns ``(ids, merges, overlaps)``: ids (cluster_id, campaign_id, continued_from,
    split_from); merges (campaign_id, merged_into); overlaps (cluster_id, prev_id, overlap).
    """
    tm = today_members.select("cluster_id", "account_id").distinct()
    ti = today_indicators.select("cluster_id", "ind_type", "ind_value").distinct()
    pm = prev_members.select(F.col("campaign_id").alias("prev_id"), "account_id").distinct()
    pi = prev_indicators.select(F.col("campaign_id").alias("prev_id"), "ind_type", "ind_value").distinct()
    n_tm = tm.groupBy("cluster_id").agg(F.count(F.lit(1)).alias("n_tm"))
    n_ti = ti.groupBy("cluster_id").agg(F.count(F.lit(1)).alias("n_ti"))
    n_pm = pm.groupBy("prev_id").agg(F.count(F.lit(1)).alias("n_pm"))
    n_pi = pi.groupBy("prev_id").agg(F.count(F.lit(1)).alias("n_pi"))
    sm = tm.join(pm, "account_id").groupBy("cluster_id", "prev_id").agg(F.count(F.lit(1)).alias("shared_m"))
    si = (
        ti.join(pi, ["ind_type", "ind_value"])
        .groupBy("cluster_id", "prev_id")
        .agg(F.count(F.lit(1)).alias("shared_i"))
    )
    overlaps = (
        sm.join(si, ["cluster_id", "prev_id"], "full")
        .join(n_tm, "cluster_id", "left")
        .join(n_ti, "cluster_id", "left")
        .join(n_pm, "prev_id", "left")
        .join(n_pi, "prev_id", "left")
        .fillna(0)
        .select(
            "cluster_id",
            "prev_id",
            F.greatest(
                F.coalesce(F.try_divide("shared_m", F.least("n_tm", "n_pm")), F.lit(0.0)),
                F.coalesce(F.try_divide("shared_i", F.least("n_ti", "n_pi")), F.lit(0.0)),
            ).alias("overlap"),
            (F.coalesce("shared_m", F.lit(0)) + F.coalesce("shared_i", F.lit(0))).alias("shared"),
        )
        .where(F.col("overlap") >= conf.identity_min_overlap)
    )
    # ids, merges and the caller's prior-actor evidence all read the overlaps (a few rows
    # per campaign): compute them once.
    overlaps = materialise(overlaps, "identity overlaps feed ids, merges and prior-actor evidence")
    best = (
        overlaps.withColumn(
            "_r",
            F.row_number().over(
                Window.partitionBy("cluster_id").orderBy(F.desc("shared"), F.desc("overlap"), "prev_id")
            ),
        )
        .where("_r = 1")
        .withColumn(
            "_k",
            F.row_number().over(
                Window.partitionBy("prev_id").orderBy(F.desc("shared"), F.desc("overlap"), "cluster_id")
            ),
        )
    )
    fresh = new_campaign_id(F.lit(day), F.col("cluster_id"))
    clusters = tm.select("cluster_id").distinct()
    ids = clusters.join(best.select("cluster_id", "prev_id", "_k"), "cluster_id", "left").select(
        "cluster_id",
        F.when(F.col("_k") == 1, F.col("prev_id")).otherwise(fresh).alias("campaign_id"),
        F.when(F.col("_k") == 1, F.col("prev_id")).alias("continued_from"),
        F.when(F.col("_k") > 1, F.col("prev_id")).alias("split_from"),
    )
    continued = ids.where(F.col("continued_from").isNotNull()).select(
        F.col("continued_from").alias("prev_id")
    )
    merges = (
        overlaps.join(continued, "prev_id", "left_anti")
        .join(ids.select("cluster_id", F.col("campaign_id").alias("merged_into")), "cluster_id")
        .withColumn(
            "_r", F.row_number().over(Window.partitionBy("prev_id").orderBy(F.desc("overlap"), "merged_into"))
        )
        .where("_r = 1")
        .select(F.col("prev_id").alias("campaign_id"), "merged_into")
    )
    return ids, merges, overlaps
