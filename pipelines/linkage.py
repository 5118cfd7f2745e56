"""Account linkage: the daily bipartite graph of accounts and the indicator values they
use, hub pruning, and connected components by label propagation.

No pairwise comparison of accounts happens anywhere: accounts meet only through a
shared value (a group-by on the value), and the components are found by iterating
min-label propagation over the account-value edges, so cost is linear in the number
of edges per round.
"""

from __future__ import annotations

import logging

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from distillwatch.config import AttributionConf
from distillwatch.spark import materialise
from distillwatch.vocabulary import CONTENT_TYPES

log = logging.getLogger(__name__)


def _ind(kind: str, value: Column) -> Column:
    return F.struct(F.lit(kind).alias("ind_type"), value.cast("string").alias("ind_value"))


def normalise_indicator(ind_type: Column, value: Column) -> Column:
    """One spelling per indicator value, shared by the graph and the threat-intel join."""
    v = F.trim(value)
    return (
        F.when(ind_type == "asn", F.regexp_replace(F.upper(v), "^AS", ""))
        .when(ind_type == "email_domain", F.lower(v))
        .otherwise(v)
    )


def account_indicators(exchanges: DataFrame) -> DataFrame:
    """One row per (account, indicator type, indicator value) seen on the day.

    Types: ip_prefix, asn, payment_fp, tls_fp, user_agent, email_domain (non-free-mail
    only), template_hash and lsh_band (one row per banded MinHash key). ``n_exchanges``
    counts the account's exchanges carrying the value. ``text_key`` (content values only)
    is the smallest ``prompt_hash`` of those exchanges: one prompt yields a template and
    every band of its MinHash, and the distinct keys of an account's content values count
    the texts behind them, not the values.
    """
    bands = F.transform(
        F.coalesce(F.col("lsh_bands"), F.array().cast("array<bigint>")),
        lambda b: _ind("lsh_band", b),
    )
    singles = F.array(
        _ind("ip_prefix", F.col("ip_prefix")),
        _ind("asn", F.col("asn")),
        _ind("payment_fp", F.col("payment_fp")),
        _ind("tls_fp", F.col("tls_fp")),
        _ind("user_agent", F.col("user_agent")),
        _ind("email_domain", F.when(~F.coalesce(F.col("is_free_mail"), F.lit(False)), F.col("email_domain"))),
        _ind("template_hash", F.col("template_hash")),
    )
    present = F.filter(
        F.concat(singles, bands), lambda s: s["ind_value"].isNotNull() & (F.trim(s["ind_value"]) != "")
    )
    return (
        exchanges.where(F.col("account_id").isNotNull())
        .select("account_id", "prompt_hash", F.explode(present).alias("i"))
        .select(
            "account_id",
            "prompt_hash",
            F.col("i.ind_type").alias("ind_type"),
            normalise_indicator(F.col("i.ind_type"), F.col("i.ind_value")).alias("ind_value"),
        )
        .groupBy("account_id", "ind_type", "ind_value")
        .agg(
            F.count(F.lit(1)).alias("n_exchanges"),
            F.min(F.when(F.col("ind_type").isin(*CONTENT_TYPES), F.col("prompt_hash"))).alias("text_key"),
        )
    )


def intel_hits(indicators: DataFrame, threat_intel: DataFrame) -> DataFrame:
    """One row per (account, listed indicator value, actor): the account used a value that
    threat intel lists, with the listing's confidence.

    threat_intel is a small dimension (thousands of rows), so it is broadcast.
    """
    intel = threat_intel.where(F.col("value").isNotNull() & F.col("actor").isNotNull()).select(
        F.col("indicator_type").alias("ind_type"),
        normalise_indicator(F.col("indicator_type"), F.col("value")).alias("ind_value"),
        "actor",
        F.coalesce(F.col("confidence"), F.lit(0.0)).alias("confidence"),
    )
    intel = intel.groupBy("ind_type", "ind_value", "actor").agg(F.max("confidence").alias("confidence"))
    return indicators.join(F.broadcast(intel), ["ind_type", "ind_value"])


def seed_accounts(scores: DataFrame, hits: DataFrame, conf: AttributionConf) -> DataFrame:
    """One row per seed account: flagged by the model, anomalous, or hit by a confident
    intel listing.

    A listing below ``seed_intel_min_confidence`` (a university NAT prefix mis-listed at
    0.3, say) never seeds on its own: dozens of legitimate accounts behind one listed
    value would otherwise all become seeds and the value would link them.
    """
    scored = scores.where(
        F.coalesce(F.col("flagged"), F.lit(False))
        | (F.coalesce(F.col("anomaly_score"), F.lit(0.0)) >= conf.seed_anomaly_min)
    ).select("account_id")
    listed = hits.where(F.col("confidence") >= conf.seed_intel_min_confidence).select("account_id")
    return scored.unionByName(listed).distinct()


def group_seeds(
    indicators: DataFrame, features: DataFrame, conf: AttributionConf, baseline: DataFrame | None = None
) -> DataFrame:
    """Seed accounts found without a model or intel: a small coordinated group.

    The accounts behind one value an operator controls (``group_seed_types``: a custom
    client's TLS fingerprint, a card, a company e-mail domain), shared by
    ``group_min_accounts`` to ``hub_max_accounts`` accounts that on average run mostly
    from hosting or proxy networks (``group_min_network_share``) and show at least
    ``group_min_signals`` of: lockstep timing (mean ``sync_score`` >= ``sync_min``),
    capability focus (mean top capability share >= ``capability_min_share``), intent
    (mean top intent-flag share >= ``intent_min_share``). This is how a campaign no
    partner has reported and no label covers is seeded. An enterprise's or university's
    accounts share a card or a domain too, but from offices and campuses, not clouds;
    one that does run from a cloud is still rejected later as a single-organisation group.

    Cost: a group-by on the value over the account-value rows and a join with the
    one-row-per-account feature table; no pairwise step.
    """
    groups = (
        indicators.where(F.col("ind_type").isin(*conf.group_seed_types))
        .select("account_id", "ind_type", "ind_value")
        .distinct()
    )
    zero = F.lit(0.0)
    f = features.select(
        "account_id",
        F.greatest(
            F.coalesce(F.col("hosting_ip_share"), zero), F.coalesce(F.col("proxy_ip_share"), zero)
        ).alias("_net"),
        F.coalesce(F.col("sync_score"), zero).alias("_sync"),
        F.coalesce(F.col("top_capability_share"), zero).alias("_cap"),
        F.greatest(
            F.coalesce(F.col("cot_share"), zero),
            F.coalesce(F.col("rubric_share"), zero),
            F.coalesce(F.col("sensitive_share"), zero),
        ).alias("_intent"),
    )
    stats = (
        groups.join(f, "account_id")
        .groupBy("ind_type", "ind_value")
        .agg(
            F.count(F.lit(1)).alias("_n"),
            F.avg("_net").alias("_net"),
            F.avg("_sync").alias("_sync"),
            F.avg("_cap").alias("_cap"),
            F.avg("_intent").alias("_intent"),
        )
    )
    n_signals = (
        (F.col("_sync") >= conf.sync_min).cast("int")
        + (F.col("_cap") >= conf.capability_min_share).cast("int")
        + (F.col("_intent") >= conf.intent_min_share).cast("int")
    )
    coordinated = stats.where(
        F.col("_n").between(conf.group_min_accounts, conf.hub_max_accounts)
        & (F.col("_net") >= conf.group_min_network_share)
        & (n_signals >= conf.group_min_signals)
    ).select("ind_type", "ind_value")
    # An operator that rotated everything it controls still sends its asks: the accounts
    # behind one content value whose traffic is mostly reasoning elicitation, rubric grading
    # or sensitive rewrites (by the content rules, on average group_content_min_intent), at
    # least group_content_min_exchanges a day each on average, and which strangers did not
    # make popular on a past day (``baseline``, less today's users of the value, who may be
    # the past days' unflagged operator): a popular "think step by step" prompt a few
    # students share is not a group.
    asks = F.least(
        F.coalesce(F.col("cot_share"), zero)
        + F.coalesce(F.col("rubric_share"), zero)
        + F.coalesce(F.col("sensitive_share"), zero),
        F.lit(1.0),
    )
    # Or whose accounts mostly buy long answers with short asks (the account's view of
    # discovery.harvest_shape: mean output and output/input ratio), at a volume no ordinary
    # group of writers sends (group_harvest_min_exchanges a day each): an operator harvesting
    # worked answers in words the content rules do not know.
    harvest = (
        (F.coalesce(F.col("mean_output_tokens"), zero) >= conf.harvest_min_output_tokens)
        & (F.coalesce(F.col("output_input_ratio"), zero) >= conf.harvest_min_ratio)
    ).cast("double")
    content = (
        indicators.where(F.col("ind_type").isin(*conf.content_indicator_types))
        .select("account_id", "ind_type", "ind_value")
        .join(
            features.select(
                "account_id",
                asks.alias("_asks"),
                harvest.alias("_harvest"),
                F.coalesce(F.col("n_exchanges"), F.lit(0)).alias("_ex"),
            ),
            "account_id",
        )
    )
    asking = content.groupBy("ind_type", "ind_value").agg(
        F.count(F.lit(1)).alias("_n"),
        F.avg("_asks").alias("_asks"),
        F.avg("_harvest").alias("_harvest"),
        F.avg("_ex").alias("_ex"),
    )
    if baseline is not None:
        asking = asking.join(baseline, ["ind_type", "ind_value"], "left")
    else:
        asking = asking.withColumn("base_popularity", F.lit(0))
    past = F.greatest(F.coalesce(F.col("base_popularity"), F.lit(0)) - F.col("_n"), F.lit(0))
    asking = asking.where(
        F.col("_n").between(conf.group_min_accounts, conf.hub_max_accounts)
        & (
            (
                (F.col("_asks") >= conf.group_content_min_intent)
                & (F.col("_ex") >= conf.group_content_min_exchanges)
            )
            | (
                (F.col("_harvest") >= conf.group_harvest_min_share)
                & (F.col("_ex") >= conf.group_harvest_min_exchanges)
            )
        )
        & (tf_weight(past) >= conf.content_min_tf_weight)
    ).select("ind_type", "ind_value")
    return (
        groups.join(coordinated, ["ind_type", "ind_value"])
        .select("account_id")
        .unionByName(content.join(asking, ["ind_type", "ind_value"]).select("account_id"))
        .distinct()
    )


def popularity_baseline(daily: DataFrame) -> DataFrame:
    """One row per value seen in the lookback: ``base_popularity``, the most unrelated
    accounts that used it on one day (rows of ``indicator_popularity_daily``).

    A per-day peak rather than a sum keeps it on the scale of today's count: a legitimate
    user who sends the same benchmark question every day is one stranger, not seven.
    """
    return daily.groupBy("ind_type", "ind_value").agg(F.max("n_unrelated").alias("base_popularity"))


def tf_weight(popularity: Column) -> Column:
    """Link weight of a value used by ``popularity`` unrelated accounts: 1 / (1 + popularity).

    A term-frequency adjustment in the Fellegi-Sunter sense (as Splink weighs a common
    surname down): agreement on a value many strangers share is weak evidence that two
    accounts have one operator.
    """
    return 1.0 / (1.0 + F.coalesce(popularity, F.lit(0)).cast("double"))


def prune_hubs(
    indicators: DataFrame,
    seeds: DataFrame,
    hits: DataFrame,
    conf: AttributionConf,
    baseline: DataFrame | None = None,
    prior_members: DataFrame | None = None,
) -> DataFrame:
    """The edges kept for linkage: one row per (account, value) with the value's rarity weight.

    A value links accounts only when it is shared (2+ accounts), mostly used by seeds (at
    least ``hub_keep_seed_share`` of its accounts), and rare (at most
    ``hub_max_accounts`` accounts) unless a confident intel listing names it. "Mostly
    seeds" is what keeps the graph from gluing: a cloud prefix, a common TLS fingerprint,
    an ASN or the template of a popular SDK is shared by a few seeds and many legitimate
    accounts, and one such value would pull whole legitimate populations into a
    campaign. Growth beyond the seeds happens only through values the seeds dominate.
    Content values (templates, LSH bands) need the stricter ``content_keep_seed_share``:
    a proxy reseller shares prompts with the very customers it resells; and at least
    ``content_min_accounts`` accounts: a 2-account near-duplicate is common, and it is how
    one falsely flagged account would chain two campaigns into one cluster. Network values
    of ``listed_only_indicator_types`` (prefixes, ASNs) are shared by unrelated tenants
    of one cloud or NAT (and user agents by every user of one SDK), so they link only
    when a confident intel listing names them.
    ``weight`` = 1 / ln(1 + accounts sharing it).

    ``baseline`` (:func:`popularity_baseline`) carries each value's popularity among
    unrelated accounts on the past days (``base_popularity``, 0 when unseen): an
    infrastructure value is kept only with ``tf_weight >= infra_min_tf_weight`` (a card or
    client stack dozens of unattributed accounts used last week is no operator's own);
    content values are weighed again with today's strangers in :func:`drop_content_bridges`.
    An infrastructure value's past popularity does not count today's users that were
    campaign members in the lookback (``prior_members``): a campaign account that was neither
    a seed nor a member on one day counted as a "stranger" of its operator's own client or
    card that day, and one such day halved the value's weight on every later day, so a
    four-account operator linked by one fingerprint fell apart.
    Accounts never published are not discounted: the booster's false flags on a team that
    shares a client still meet that client's past strangers.
    """
    seeded = indicators.join(seeds.withColumn("is_seed", F.lit(True)), "account_id", "left")
    if prior_members is not None:
        seeded = seeded.join(
            prior_members.select("account_id").distinct().withColumn("_prior", F.lit(True)),
            "account_id",
            "left",
        )
    else:
        seeded = seeded.withColumn("_prior", F.lit(None).cast("boolean"))
    listed = (
        hits.where(F.col("confidence") >= conf.seed_intel_min_confidence)
        .select("ind_type", "ind_value")
        .distinct()
        .withColumn("listed", F.lit(True))
    )
    stats = (
        seeded.groupBy("ind_type", "ind_value")
        .agg(
            F.count(F.lit(1)).alias("n_accounts"),
            F.count(F.when(F.col("is_seed"), 1)).alias("n_seed_accounts"),
            F.count(F.when(F.col("_prior"), 1)).alias("_n_prior"),
        )
        .join(F.broadcast(listed), ["ind_type", "ind_value"], "left")
    )
    if baseline is not None:
        stats = stats.join(baseline, ["ind_type", "ind_value"], "left")
    else:
        stats = stats.withColumn("base_popularity", F.lit(None).cast("bigint"))
    is_listed = F.coalesce(F.col("listed"), F.lit(False))
    is_content = F.col("ind_type").isin(*conf.content_indicator_types)
    base = F.coalesce(F.col("base_popularity"), F.lit(0))
    # content values take today's related users off their past peak in drop_content_bridges
    stats = stats.withColumn(
        "base_popularity",
        F.when(is_content, base).otherwise(F.greatest(base - F.col("_n_prior"), F.lit(0))),
    ).drop("_n_prior")
    # Content values pass the seed-share test below with the seeds' affine accounts counted.
    candidates = stats.where(
        (F.col("n_accounts") >= 2)
        & (F.col("n_seed_accounts") >= 1)
        & (is_content | (F.col("n_seed_accounts") >= F.col("n_accounts") * conf.hub_keep_seed_share))
        & (~is_content | (F.col("n_accounts") >= conf.content_min_accounts))
        & ((F.col("n_accounts") <= conf.hub_max_accounts) | is_listed)
        & (is_listed | ~F.col("ind_type").isin(*conf.listed_only_indicator_types))
        & (is_content | is_listed | (tf_weight(F.col("base_popularity")) >= conf.infra_min_tf_weight))
    ).select(
        "ind_type",
        "ind_value",
        "n_accounts",
        (1.0 / F.log1p(F.col("n_accounts"))).alias("weight"),
        "base_popularity",
    )
    # Each account's seed affinity: the share of its content values that seeds dominate or
    # touch. An unflagged account of an operator writes almost only the operator's prompts;
    # a stranger who happens to send a few of the same benchmark questions writes mostly its
    # own. A value seeds *touch* is one at least content_touch_min_seeds seeds use, and they
    # are at least content_touch_seed_share of its users: a rotated operator's prompts when
    # only a few of its accounts are labelled, never a popular prompt one seed also sent.
    sized = is_content & (F.col("n_accounts") >= conf.content_min_accounts)
    dominated = sized & (F.col("n_seed_accounts") >= F.col("n_accounts") * conf.content_keep_seed_share)
    touched = (
        sized
        & (F.col("n_seed_accounts") >= conf.content_touch_min_seeds)
        & (F.col("n_seed_accounts") >= F.col("n_accounts") * conf.content_touch_seed_share)
        & (F.col("n_accounts") <= conf.hub_max_accounts)
    )
    near_seeds = stats.where(dominated | touched).select("ind_type", "ind_value", F.lit(1.0).alias("_dom"))
    affinity = materialise(
        seeded.where(F.col("ind_type").isin(*conf.content_indicator_types))
        .join(near_seeds, ["ind_type", "ind_value"], "left")
        .groupBy("account_id")
        .agg(
            F.avg(F.coalesce(F.col("_dom"), F.lit(0.0))).alias("seed_affinity"),
            F.count("_dom").alias("_near_values"),
            F.max(F.coalesce(F.col("is_seed"), F.lit(False)).cast("int")).alias("_seed"),
        ),
        "seed affinity feeds the content gate and the edges",
    )
    # An unflagged account that writes mostly seed-touched content, with at least
    # loose_min_content_values such values, counts with the seeds in the content gate: the
    # campaign's prompts are then mostly its accounts', labelled or not.
    affine = affinity.where(
        (F.col("_seed") == 0)
        & (F.col("seed_affinity") >= conf.stranger_max_seed_affinity)
        & (F.col("_near_values") >= conf.loose_min_content_values)
    ).select("account_id", F.lit(True).alias("_affine"))
    near_users = (
        seeded.where(is_content)
        .join(affine, "account_id", "left")
        .groupBy("ind_type", "ind_value")
        .agg(F.count(F.when(F.col("is_seed") | F.col("_affine"), 1)).alias("_n_near"))
    )
    content_ok = F.coalesce(F.col("_n_near"), F.lit(0)) >= F.col("n_accounts") * conf.content_keep_seed_share
    kept = (
        candidates.join(near_users, ["ind_type", "ind_value"], "left")
        .where(~is_content | content_ok)
        .drop("_n_near")
    )
    return (
        indicators.join(kept, ["ind_type", "ind_value"])
        .join(affinity, "account_id", "left")
        .select(
            "account_id",
            "ind_type",
            "ind_value",
            "n_exchanges",
            "text_key",
            "n_accounts",
            "weight",
            "base_popularity",
            F.coalesce(F.col("seed_affinity"), F.lit(0.0)).alias("seed_affinity"),
        )
    )


def connected_components(edges: DataFrame, max_iterations: int) -> DataFrame:
    """One row per linked account: ``component`` is the smallest account_id reachable
    through shared kept values.

    Alternating min-label propagation over the bipartite graph: each value takes the
    min label of its accounts, each account the min label of its values, until no label
    changes or ``max_iterations`` rounds (a warning then; components may be split).
    """
    e = materialise(
        edges.select("account_id", F.concat_ws("\u0001", "ind_type", "ind_value").alias("node")).distinct(),
        "edges are re-read every round",
    )
    labels = materialise(
        e.select("account_id").distinct().withColumn("component", F.col("account_id")), "labels"
    )
    for rnd in range(1, max_iterations + 1):
        node_label = e.join(labels, "account_id").groupBy("node").agg(F.min("component").alias("node_label"))
        new = e.join(node_label, "node").groupBy("account_id").agg(F.min("node_label").alias("component"))
        new = materialise(new, "labels of this round feed the next")
        changed = (
            new.alias("n")
            .join(labels.alias("o"), "account_id")
            .where(F.col("n.component") != F.col("o.component"))
            .count()
        )
        labels = new
        log.info("label propagation round %d: %d labels changed", rnd, changed)
        if changed == 0:
            return labels
    log.warning("label propagation hit the iteration cap (%d); components may be incomplete", max_iterations)
    return labels


def drop_content_bridges(
    edges: DataFrame,
    conf: AttributionConf,
    seeds: DataFrame | None = None,
    prior_members: DataFrame | None = None,
) -> DataFrame:
    """The kept edges without popular content and without the content values that would
    join two operators; every edge with its ``tf_weight``.

    An operator runs its accounts from infrastructure it controls (cards, sign-up domains,
    client stacks, listed networks), so accounts linked by infrastructure values form
    *anchored groups* (2+ accounts). Prompt content is not owned: real users send the same
    popular prompts (the same HumanEval problem, GSM8K question or "act as" prompt), two
    campaigns harvesting the same capability write near-duplicates of each other. So:

    - a content value's popularity is the most unrelated accounts that used it on one day:
      today's users that are not seeds, not in an anchored group holding a seed, not
      earlier campaign members (``prior_members``) and not mostly writing seed-dominated
      content (``seed_affinity`` below ``stranger_max_seed_affinity``), or the past days' peak
      (``base_popularity``, less today's related users of the value: they may be the past
      days' strangers, a campaign's accounts before it was caught); it is kept only with
      ``tf_weight`` (1 / (1 + popularity)) of at least ``content_min_tf_weight``;
    - a content value used by accounts of two or more anchored groups is dropped;
    - an account outside every anchored group whose remaining content values reach two or
      more anchored groups keeps none of its content edges (an ambiguous bridge);
    - an account outside every anchored group with fewer than ``loose_min_content_values``
      distinct content values, or with values from fewer than ``loose_min_content_texts`` of
      its texts (distinct ``text_key``; a value without one counts as a text of its own),
      keeps none of them: a campaign account the detectors missed repeats dozens of the
      campaign's templates and near-duplicates, while an evaluation lab or a student
      collides with one or two LSH bands by chance, or sends one popular prompt a
      reseller's campaign also carries (one text: its template and every band of its
      MinHash, nine values).

    A chain through two unanchored accounts can still join groups; it needs two
    independent near-duplicate coincidences. Cost: one more label propagation, over the
    infrastructure edges only, and group-bys on value and account.
    """
    is_content = F.col("ind_type").isin(*conf.content_indicator_types)
    infra = edges.where(~is_content).withColumn("tf_weight", tf_weight(F.col("base_popularity")))
    content = edges.where(is_content)
    comps = connected_components(infra, conf.max_iterations)
    sizes = comps.groupBy("component").agg(F.count(F.lit(1)).alias("_size"))
    anchor = materialise(
        comps.join(sizes.where(F.col("_size") >= 2), "component").select(
            "account_id", F.col("component").alias("anchor")
        ),
        "anchored groups are read four times",
    )
    if seeds is not None:
        seeded_groups = anchor.join(seeds, "account_id").select("anchor").distinct()
        related = seeds.select("account_id").unionByName(
            anchor.join(seeded_groups, "anchor").select("account_id")
        )
        if prior_members is not None:
            related = related.unionByName(prior_members.select("account_id"))
        strangers = (
            content.join(related.distinct().withColumn("_related", F.lit(True)), "account_id", "left")
            .groupBy("ind_type", "ind_value")
            .agg(
                F.count(
                    F.when(
                        F.col("_related").isNull()
                        & (F.col("seed_affinity") < conf.stranger_max_seed_affinity),
                        1,
                    )
                ).alias("_strangers"),
                F.count(
                    F.when(
                        F.col("_related").isNotNull()
                        | (F.col("seed_affinity") >= conf.stranger_max_seed_affinity),
                        1,
                    )
                ).alias("_related_users"),
            )
        )
        # The past days' strangers may be today's seeds: a campaign's accounts used its
        # prompts unflagged before the day it was caught. Today's related users of a value
        # (seeds, their anchored groups, earlier members, accounts writing mostly the seeds'
        # content) are taken off its past peak, so a campaign is not hidden by its own history.
        past = F.greatest(F.col("base_popularity") - F.col("_related_users"), F.lit(0))
        content = (
            content.join(strangers, ["ind_type", "ind_value"])
            .withColumn("tf_weight", tf_weight(F.greatest(F.col("_strangers"), past)))
            .where(F.col("tf_weight") >= conf.content_min_tf_weight)
            .drop("_strangers", "_related_users")
        )
    else:
        content = content.withColumn("tf_weight", tf_weight(F.col("base_popularity")))
    bridges = (
        content.select("ind_type", "ind_value", "account_id")
        .join(anchor, "account_id")
        .groupBy("ind_type", "ind_value")
        .agg(F.countDistinct("anchor").alias("_groups"))
        .where(F.col("_groups") >= 2)
        .select("ind_type", "ind_value")
    )
    kept = content.join(bridges, ["ind_type", "ind_value"], "left_anti")
    value_anchor = (
        kept.select("ind_type", "ind_value", "account_id")
        .join(anchor, "account_id")
        .select("ind_type", "ind_value", "anchor")
        .distinct()
    )
    ambiguous = (
        kept.join(anchor.select("account_id"), "account_id", "left_anti")
        .select("account_id", "ind_type", "ind_value")
        .join(value_anchor, ["ind_type", "ind_value"])
        .groupBy("account_id")
        .agg(F.countDistinct("anchor").alias("_groups"))
        .where(F.col("_groups") >= 2)
        .select("account_id")
    )
    text = F.coalesce(F.col("text_key").cast("string"), F.concat_ws(":", "ind_type", "ind_value"))
    thin = (
        kept.join(anchor.select("account_id"), "account_id", "left_anti")
        .groupBy("account_id")
        .agg(F.countDistinct("ind_type", "ind_value").alias("_values"), F.countDistinct(text).alias("_texts"))
        .where(
            (F.col("_values") < conf.loose_min_content_values)
            | (F.col("_texts") < conf.loose_min_content_texts)
        )
        .select("account_id")
    )
    return infra.unionByName(kept.join(ambiguous.unionByName(thin), "account_id", "left_anti"))


def member_evidence(edges: DataFrame, conf: AttributionConf) -> DataFrame:
    """One row per linked account: ``link_evidence`` in [0, 1) and the ``link_reasons``.

    Each kept value the account uses counts ``w`` = its ``tf_weight`` times the type's
    weight (``content_edge_weight`` for templates and LSH bands, 1 for infrastructure);
    they combine by noisy-or, 1 - prod(1 - w), so several specific values outweigh one and
    many popular ones stay weak. Reasons are ``<type>:<values>`` per indicator type.
    """
    w = F.col("tf_weight") * F.when(
        F.col("ind_type").isin(*conf.content_indicator_types), F.lit(conf.content_edge_weight)
    ).otherwise(F.lit(1.0))
    per_type = (
        edges.withColumn("_w", F.least(w, F.lit(0.999)))
        .groupBy("account_id", "ind_type")
        .agg(F.sum(F.log1p(-F.col("_w"))).alias("_l"), F.count(F.lit(1)).alias("_n"))
    )
    return per_type.groupBy("account_id").agg(
        (1.0 - F.exp(F.sum("_l"))).alias("link_evidence"),
        F.sort_array(F.collect_list(F.concat_ws(":", "ind_type", F.col("_n").cast("string")))).alias(
            "link_reasons"
        ),
    )


DECISION_TYPE = "decision"


def must_link_edges(must_links: DataFrame, indicators: DataFrame) -> DataFrame:
    """The edges of analysts' must-links among the day's accounts: one value per decision
    (``ind_type`` ``decision``), full weight, never pruned. A decision with fewer than two
    of its accounts active today links nobody."""
    active = indicators.select("account_id").distinct()
    rows = must_links.join(active, "account_id", "left_semi").distinct()
    n = rows.groupBy("ind_value").agg(F.count(F.lit(1)).alias("n_accounts")).where("n_accounts >= 2")
    return rows.join(n, "ind_value").select(
        "account_id",
        F.lit(DECISION_TYPE).alias("ind_type"),
        "ind_value",
        F.lit(1).cast("bigint").alias("n_exchanges"),
        F.lit(None).cast("bigint").alias("text_key"),
        "n_accounts",
        F.lit(1.0).alias("weight"),
        F.lit(0).cast("bigint").alias("base_popularity"),
        F.lit(1.0).alias("seed_affinity"),
        F.lit(1.0).alias("tf_weight"),
    )


def _conflicts(comps: DataFrame, sides: DataFrame) -> DataFrame:
    """(component, decision_id): a cannot-link whose two sides sit in one component, the
    smallest decision per component (one cut per component and round)."""
    both = (
        sides.join(comps, "account_id")
        .groupBy("component", "decision_id")
        .agg(F.countDistinct("side").alias("_n"))
        .where("_n = 2")
    )
    return both.groupBy("component").agg(F.min("decision_id").alias("decision_id"))


def _cut(
    edges: DataFrame, comps: DataFrame, sides: DataFrame, conflicts: DataFrame, rounds: int
) -> DataFrame:
    """``edges`` with the conflicting components cut between the two sides of their
    cannot-link.

    Each account of such a component takes the side it is closest to: breadth-first from
    both sides at once over shared values, an account reached by both in the same round
    joining the side it shares more values with (then side 0). A value whose accounts end
    on both sides keeps only the edges of its larger side (then side 0), so no value
    joins the sides any more. Linear in the component's edges per round."""
    node = F.concat_ws("\u0001", "ind_type", "ind_value")
    inside = (
        edges.join(comps, "account_id")
        .join(conflicts, "component")
        .withColumn("node", node)
        .select("component", "decision_id", "account_id", "node", "ind_type", "ind_value")
    )
    inside = materialise(inside, "edges of components a cannot-link cuts are read every round")
    assigned = materialise(
        sides.join(conflicts, "decision_id").select("component", "account_id", "side").distinct(),
        "side seeds",
    )
    for _ in range(rounds):
        node_side = (
            inside.join(assigned, ["component", "account_id"]).select("component", "node", "side").distinct()
        )
        reach = (
            inside.join(assigned, ["component", "account_id"], "left_anti")
            .join(node_side, ["component", "node"])
            .groupBy("component", "account_id", "side")
            .agg(F.countDistinct("node").alias("_n"))
        )
        best = Window.partitionBy("component", "account_id").orderBy(F.desc("_n"), "side")
        new = (
            reach.withColumn("_r", F.row_number().over(best))
            .where("_r = 1")
            .select("component", "account_id", "side")
        )
        new = materialise(new, "accounts reached this round")
        if new.isEmpty():
            break
        assigned = materialise(assigned.unionByName(new), "sides so far")
    per_node = (
        inside.join(assigned, ["component", "account_id"])
        .groupBy("component", "node", "side")
        .agg(F.count(F.lit(1)).alias("_n"))
    )
    keep = Window.partitionBy("component", "node").orderBy(F.desc("_n"), "side")
    node_keep = (
        per_node.withColumn("_r", F.row_number().over(keep))
        .where("_r = 1")
        .select("component", "node", F.col("side").alias("_keep"))
    )
    dropped = (
        inside.join(assigned, ["component", "account_id"])
        .join(node_keep, ["component", "node"])
        .where(F.col("side") != F.col("_keep"))
        .select("account_id", "ind_type", "ind_value")
    )
    return edges.join(dropped, ["account_id", "ind_type", "ind_value"], "left_anti")


def separate_cannot_links(
    edges: DataFrame, sides: DataFrame, conf: AttributionConf, max_cuts: int = 4
) -> tuple[DataFrame, DataFrame]:
    """(edges, components) in which no analyst cannot-link is crossed.

    ``sides`` (decision_id, account_id, side) are the two sides of each cannot-link. While
    a component holds both sides of one, it is cut between them (:func:`_cut`, one
    cannot-link per component a pass) and the components are found again; after
    ``max_cuts`` passes, any account of a side still in a conflicting component loses
    every edge (it stands alone: a cannot-link is never crossed)."""
    comps = connected_components(edges, conf.max_iterations)
    for _ in range(max_cuts):
        conflicts = materialise(_conflicts(comps, sides), "cannot-links crossed by the components")
        if conflicts.isEmpty():
            return edges, comps
        edges = materialise(
            _cut(edges, comps, sides, conflicts, conf.max_iterations), "edges cut between cannot-link sides"
        )
        comps = connected_components(edges, conf.max_iterations)
    conflicts = _conflicts(comps, sides)
    if not conflicts.isEmpty():
        log.warning("cannot-links still crossed after %d cuts: their accounts stand alone", max_cuts)
        alone = sides.join(conflicts, "decision_id").select("account_id").distinct()
        edges = materialise(edges.join(alone, "account_id", "left_anti"), "edges without unresolved sides")
        comps = connected_components(edges, conf.max_iterations)
    return edges, comps


def label_sides(labelled: DataFrame) -> DataFrame:
    """(decision_id, account_id, side): accounts labelled distillation by two different actors
    are the two sides of a cannot-link, one per pair of actors (``label:A|B``; side 0 for A).

    Two operators harvesting the same capability write near-duplicates of each other; with
    their infrastructure rotated nothing anchors them apart but the analysts' labels, and
    an account known to be one actor's is never put in a campaign with another's. The
    labelled accounts are few (analysts' decisions), the actors a handful."""
    lab = labelled.where(F.col("actor").isNotNull()).select("account_id", "actor").distinct()
    actors = lab.select("actor").distinct()
    pairs = actors.select(F.col("actor").alias("_a")).crossJoin(actors.select(F.col("actor").alias("_b")))
    pairs = pairs.where(F.col("_a") < F.col("_b")).withColumn(
        "decision_id", F.concat(F.lit("label:"), "_a", F.lit("|"), "_b")
    )
    first = pairs.join(lab, F.col("actor") == F.col("_a")).select(
        "decision_id", "account_id", F.lit(0).alias("side")
    )
    second = pairs.join(lab, F.col("actor") == F.col("_b")).select(
        "decision_id", "account_id", F.lit(1).alias("side")
    )
    return first.unionByName(second)


def link_accounts(
    indicators: DataFrame,
    scores: DataFrame,
    threat_intel: DataFrame,
    conf: AttributionConf,
    features: DataFrame | None = None,
    baseline: DataFrame | None = None,
    prior_members: DataFrame | None = None,
    must_links: DataFrame | None = None,
    cannot_sides: DataFrame | None = None,
    labelled: DataFrame | None = None,
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Seeds, kept edges and clusters of one day.

    Seeds are :func:`seed_accounts` plus, given the day's ``features``, :func:`group_seeds`.
    ``baseline`` (:func:`popularity_baseline`) and ``prior_members`` (account_id of the
    campaigns' latest earlier members) weigh values by how many unrelated accounts use
    them; accounts whose :func:`member_evidence` stays below ``member_min_evidence`` are
    not linked (their edges are dropped before the components are found).

    Returns ``(clusters, edges, hits)``: clusters has one row per account in a component
    that holds at least one seed (``cluster_id``, ``account_id``, ``is_seed``,
    ``link_evidence``, ``link_reasons``); edges are the pruned account-value rows with
    their ``tf_weight``; hits the account intel matches.

    Analysts' decisions: ``must_links`` (account_id, ind_value) become edges no pruning
    removes (:func:`must_link_edges`); ``cannot_sides`` (decision_id, account_id, side) are
    never joined into one component (:func:`separate_cannot_links`). ``labelled``
    (account_id): accounts analysts labelled distillation before the day ends; they seed
    like a flag of the model, so an operator that rotated away from every listed value and
    that no model has learned yet is still found from the accounts already known to be its.
    """
    hits = materialise(intel_hits(indicators, threat_intel), "intel hits feed seeds, pruning and evidence")
    seeds = seed_accounts(scores, hits, conf)
    if labelled is not None:
        active = indicators.select("account_id").distinct()
        seeds = seeds.unionByName(
            labelled.select("account_id").join(active, "account_id", "left_semi")
        ).distinct()
        if "actor" in labelled.columns:
            sides = label_sides(labelled.join(active, "account_id", "left_semi"))
            cannot_sides = sides if cannot_sides is None else cannot_sides.unionByName(sides)
    if features is not None:
        seeds = materialise(
            seeds.unionByName(group_seeds(indicators, features, conf, baseline)).distinct(),
            "seeds feed pruning and the clusters",
        )
    # Pruning shuffles the day's account-value rows three times; drop_content_bridges reads
    # its output several times (infrastructure, bridges, kept, ambiguous, thin), which would
    # otherwise each recompute it.
    pruned = materialise(
        prune_hubs(indicators, seeds, hits, conf, baseline, prior_members),
        "pruned edges feed the content bridges",
    )
    bridged = drop_content_bridges(pruned, conf, seeds, prior_members)
    if must_links is not None:
        bridged = bridged.unionByName(must_link_edges(must_links, indicators))
    bridged = materialise(bridged, "weighed edges feed the member evidence")
    evidence = member_evidence(bridged, conf).where(F.col("link_evidence") >= conf.member_min_evidence)
    edges = materialise(
        bridged.join(evidence, "account_id", "left_semi"), "kept edges feed components and identity"
    )
    if cannot_sides is not None:
        edges, comps = separate_cannot_links(edges, cannot_sides, conf)
    else:
        comps = connected_components(edges, conf.max_iterations)
    seeded = comps.join(seeds.withColumn("is_seed", F.lit(True)), "account_id", "left").withColumn(
        "is_seed", F.coalesce(F.col("is_seed"), F.lit(False))
    )
    with_seed = seeded.groupBy("component").agg(F.max(F.col("is_seed").cast("int")).alias("has_seed"))
    clusters = materialise(
        seeded.join(with_seed.where(F.col("has_seed") == 1), "component")
        .join(evidence, "account_id")
        .select(
            F.col("component").alias("cluster_id"), "account_id", "is_seed", "link_evidence", "link_reasons"
        ),
        "clusters feed the member exchanges and the evidence",
    )
    return clusters, edges, hits
