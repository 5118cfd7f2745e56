"""The evaluation's headline figures on tiny literal worlds (bench/evaluate_world.py).

Accounts a1-a3 belong to planted campaign X (actor ACT), b1 to campaign Y, l1 and l2 are
legitimate (individual, enterprise). Day 1 is before training (the model is trained as of
day 1), day 2 after.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from bench.evaluate_world import (
    AFTER,
    ALL_DAYS,
    BEFORE,
    account_metrics,
    campaign_day_counts,
    campaign_days,
    exchange_metrics,
    headline_table,
    legit_pulled_in,
    pivot_outcomes,
    place_sections,
    planted_outcomes,
    release_shares,
    wrap_section,
)

D1, D2, D3 = dt.date(2026, 2, 1), dt.date(2026, 2, 2), dt.date(2026, 2, 3)


def _truth_accounts(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            ("a1", "campaign_x", "X", "ACT"),
            ("a2", "campaign_x", "X", "ACT"),
            ("a3", "campaign_x", "X", "ACT"),
            ("b1", "campaign_y", "Y", "YACT"),
            ("l1", "individual", None, None),
            ("l2", "enterprise", None, None),
        ],
        "account_id string, population string, campaign string, actor string",
    )


def _activity(spark: SparkSession) -> DataFrame:
    rows = [(D1, a) for a in ("a1", "a2", "a3", "l1", "l2")] + [(D2, a) for a in ("a1", "a2", "b1", "l1")]
    return spark.createDataFrame(rows, "event_date date, account_id string")


def _members(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            (D1, "C1", "a1"),
            (D1, "C1", "a2"),
            (D1, "C1", "l1"),
            (D1, "C2", "l1"),  # the same account-day in two campaigns counts once
            (D2, "C1", "a1"),
            (D2, "C1", "l1"),
        ],
        "event_date date, campaign_id string, account_id string",
    )


def test_account_precision_counts_member_account_days_and_recall_only_active_campaigns(
    spark: SparkSession,
) -> None:
    got = account_metrics(_members(spark), _activity(spark), _truth_accounts(spark), 2, as_of=D1)
    # Day 2: b1 is campaign Y's only active account (< 2): Y is not active, not in recall.
    expected = spark.createDataFrame(
        [
            (BEFORE, 3, 2, 3, 2, 2 / 3, 2 / 3),
            (AFTER, 2, 1, 2, 1, 0.5, 0.5),
            (ALL_DAYS, 5, 3, 5, 3, 0.6, 0.6),
        ],
        "period string, member_account_days long, true_member_account_days long, "
        "campaign_account_days long, found_campaign_account_days long, "
        "account_precision double, account_recall double",
    )
    assertDataFrameEqual(got, expected)


def test_exchange_precision_counts_resold_traffic_as_wrong_and_empty_periods_as_null(
    spark: SparkSession,
) -> None:
    truth = spark.createDataFrame(
        [
            ("r1", True),
            ("r2", True),
            ("r3", True),
            ("r4", False),  # a campaign account's resold traffic
            ("r5", False),
        ],
        "request_id string, is_campaign_traffic boolean",
    )
    processed = spark.createDataFrame(
        [(D1, "r1"), (D1, "r2"), (D1, "r4"), (D1, "r5"), (D2, "r3")], "event_date date, request_id string"
    )
    attributed = spark.createDataFrame(
        [(D1, "C1", "r1"), (D1, "C1", "r4"), (D1, "C1", "rX")],  # rX: not in truth, so not campaign traffic
        "event_date date, campaign_id string, request_id string",
    )
    got = exchange_metrics(attributed, processed, truth, as_of=D1)
    expected = spark.createDataFrame(
        [
            (BEFORE, 3, 1, 2, 1, 1 / 3, 0.5),
            (AFTER, 0, 0, 1, 0, None, 0.0),
            (ALL_DAYS, 3, 1, 3, 1, 1 / 3, 1 / 3),
        ],
        "period string, attributed_exchanges long, true_attributed_exchanges long, "
        "campaign_exchanges_processed long, found_campaign_exchanges long, "
        "exchange_precision double, exchange_recall double",
    )
    assertDataFrameEqual(got, expected)


def test_legitimate_account_days_pulled_in_per_population(spark: SparkSession) -> None:
    got = legit_pulled_in(_members(spark), _activity(spark), _truth_accounts(spark), as_of=D1)
    expected = spark.createDataFrame(
        [
            (BEFORE, "individual", 1, 1, 1, 1),
            (BEFORE, "enterprise", 1, 1, 0, 0),
            (AFTER, "individual", 1, 1, 1, 1),
            (ALL_DAYS, "individual", 2, 1, 2, 1),
            (ALL_DAYS, "enterprise", 1, 1, 0, 0),
        ],
        "period string, population string, active_account_days long, active_accounts long, "
        "pulled_account_days long, pulled_accounts long",
    )
    assertDataFrameEqual(got, expected)


def _attribution(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [(D1, "C1", "ACT", False), (D1, "C2", None, False), (D2, "C1", None, True)],
        "event_date date, campaign_id string, actor string, release_pivot boolean",
    )


def test_campaign_days_label_the_planted_majority_and_count_mostly_legitimate_ones(
    spark: SparkSession,
) -> None:
    cd = campaign_days(_members(spark), _truth_accounts(spark), _attribution(spark))
    got = cd.select(
        "event_date", "campaign_id", "members", "planted", "top_legit_population", "purity", "actor"
    )
    expected = spark.createDataFrame(
        [
            (D1, "C1", 3, "X", "individual", 2 / 3, "ACT"),
            (D1, "C2", 1, None, "individual", 0.0, None),
            (D2, "C1", 2, "X", "individual", 0.5, None),
        ],
        "event_date date, campaign_id string, members long, planted string, "
        "top_legit_population string, purity double, actor string",
    )
    assertDataFrameEqual(got, expected)
    counts = campaign_day_counts(cd, as_of=D1)
    assertDataFrameEqual(
        counts,
        spark.createDataFrame(
            [(BEFORE, 2, 1), (AFTER, 1, 0), (ALL_DAYS, 3, 1)],
            "period string, campaign_days long, mostly_legitimate_campaign_days long",
        ),
    )


def test_planted_outcomes_need_the_expected_actor_and_start_at_the_first_full_day(
    spark: SparkSession,
) -> None:
    members = spark.createDataFrame(
        [(D1, "C1", "a1"), (D2, "C1", "a1"), (D2, "C9", "n1"), (D3, "C9", "n1"), (D3, "C1", "a1")],
        "event_date date, campaign_id string, account_id string",
    )
    truth = _truth_accounts(spark).unionByName(
        spark.createDataFrame([("n1", "campaign_n", "N", "NOINTEL")], _truth_accounts(spark).schema)
    )
    attribution = spark.createDataFrame(
        [(D1, "C1", "ACT", False), (D2, "C1", None, False), (D2, "C9", None, False), (D3, "C9", None, False)]
        + [(D3, "C1", "ACT", False)],
        "event_date date, campaign_id string, actor string, release_pivot boolean",
    )
    cdays = [r.asDict() for r in campaign_days(members, truth, attribution).collect()]
    outcomes = {
        o.campaign: o
        for o in planted_outcomes(
            cdays,
            active_days={"X": {D1, D2, D3}, "N": {D2, D3}},
            true_actor={"X": "ACT", "N": "NOINTEL"},
            expected_actor={"X": "ACT", "N": None},
            first_traffic={"X": D1, "N": D2},
            world_start=D1,
            as_of=D1,
        )
    }
    x, n = outcomes["X"], outcomes["N"]
    # X: found every day, but day 2 without its actor.
    assert (x.days_found, x.days_right_before, x.days_right_after) == (3, 1, 1)
    assert (x.first_full_day, x.right_from_full_day, x.active_from_full_day) == (D1, 2, 3)
    assert x.left_unattributed is None
    # N started during day 2: its first full day is day 3; unattributed is right for it.
    assert (n.first_found, n.first_full_day, n.right_from_full_day, n.active_from_full_day) == (D2, D3, 1, 1)
    assert n.left_unattributed is True
    named = {**cdays[0], "planted": "N", "actor": "ACT"}
    assert (
        planted_outcomes([*cdays, named], {"N": {D2, D3}}, {}, {"N": None}, {"N": D2}, D1, D1)[
            0
        ].left_unattributed
        is False
    )


def test_release_pivot_counts_only_flags_within_24_hours() -> None:
    at = dt.datetime(2026, 2, 1, 16, 0)
    late = [{"event_date": D3, "campaign_id": "C1", "planted": "X", "release_pivot": True}]
    on_time = [{"event_date": D2, "campaign_id": "C1", "planted": "X", "release_pivot": True}]
    other = [{"event_date": D2, "campaign_id": "C2", "planted": "Y", "release_pivot": True}]
    (p,) = pivot_outcomes(on_time + other, [("m2", at)], {"m2": {"X"}}, D3)
    assert p.within_24h is True and p.first_flagged == {"X": D2} and p.false_flags == ((D2, "C2"),)
    (p,) = pivot_outcomes(late, [("m2", at)], {"m2": {"X"}}, D3)
    assert p.within_24h is False and p.first_flagged == {"X": D3}
    # The evaluated days end on the release day: not flagged yet is not a miss.
    (p,) = pivot_outcomes([], [("m2", at)], {"m2": {"X"}}, D1)
    assert p.within_24h is None


def test_release_shares_count_the_24_hours_after_the_release(spark: SparkSession) -> None:
    at = dt.datetime(2026, 2, 1, 16, 0)
    sent = spark.sql(
        "SELECT * FROM VALUES "
        "('r1', TIMESTAMP'2026-02-01 17:00:00', 'm2'), ('r2', TIMESTAMP'2026-02-02 15:00:00', 'm1'), "
        "('r3', TIMESTAMP'2026-02-02 16:00:00', 'm2'), ('r4', TIMESTAMP'2026-02-01 15:59:00', 'm2'), "
        "('r5', TIMESTAMP'2026-02-01 18:00:00', 'm1'), ('r6', TIMESTAMP'2026-02-01 19:00:00', 'm1') "
        "AS t(request_id, ts, model)"
    )
    truth = spark.createDataFrame(
        [("r1", "X", True), ("r2", "X", True), ("r3", "X", True), ("r4", "X", True), ("r5", "X", False)]
        + [("r6", None, False)],
        "request_id string, campaign string, is_campaign_traffic boolean",
    )
    got = release_shares(sent, truth, "m2", at)
    # r3 is 24 h after (out), r4 before (out); r5 is X's account but not campaign traffic.
    expected = spark.createDataFrame(
        [("X", 2, 0.5), (None, 2, 0.0)], "campaign string, exchanges long, new_model_share double"
    )
    assertDataFrameEqual(got, expected)


def test_sections_replace_their_own_block_and_leave_the_rest_of_the_document() -> None:
    doc = "# Evaluation\n\nintro\n\n## Labels on real text\n\nkept as written\n"
    one = place_sections(doc, [wrap_section("Default world", "old"), wrap_section("Real-text world", "rt")])
    two = place_sections(one, [wrap_section("Default world", "new")])
    assert "## Labels on real text\n\nkept as written\n" in two
    assert "new" in two and "old" not in two and "rt" in two
    assert two.index("## Default world") < two.index("## Real-text world")


def test_headline_table_shows_ratios_with_their_counts_and_only_the_periods_asked() -> None:
    acc = [
        {
            "period": BEFORE,
            "account_precision": 0.75,
            "true_member_account_days": 3,
            "member_account_days": 4,
            "account_recall": None,
            "found_campaign_account_days": 0,
            "campaign_account_days": 0,
        }
    ]
    legit = [{"period": BEFORE, "population": "individual", "pulled_account_days": 1}]
    md = headline_table(
        acc,
        [],
        [{"period": BEFORE, "campaign_days": 2, "mostly_legitimate_campaign_days": 1}],
        legit,
        (BEFORE,),
    )
    assert "| account precision (member account-days truly campaign) | 0.750 (3/4) |" in md
    assert "| account recall (active campaign account-days in a campaign) | - |" in md
    assert "| campaign-days mostly legitimate (purity < 0.5) | 1 |" in md
    assert AFTER not in md
