"""Churn risk: eligibility and labels at a cutoff, features without leaks, validation in time, the sample."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from omni_metrics.metrics.churn import churn_features, churn_risk, labels
from omni_metrics.schema import TABLES

C = datetime(2024, 6, 30, 12, 0)


def frame(table, rows):
    schema = TABLES[table].dtypes
    return pl.DataFrame({c: [r.get(c) for r in rows] for c in schema}, schema=schema)


def order(oid, cid, when, revenue=10.0, channel="web"):
    return {"order_id": oid, "customer_id": cid, "timestamp": when, "channel": channel, "revenue": revenue,
            "status": "completed"}


def touch(cid, when, event, channel="web"):
    return {"customer_id": cid, "timestamp": when, "channel": channel, "event_type": event}


ORDERS = frame("orders", [
    order("1", "a", C - timedelta(days=100), 30.0), order("2", "a", C - timedelta(days=10), 50.0, "store"),
    order("3", "a", C + timedelta(days=20)),            # a buys again within H = 90: not churned
    order("4", "b", C - timedelta(days=40)),            # b never buys again: churned
    order("5", "c", C + timedelta(days=1)),             # c's first order is after the cutoff: not eligible
    order("6", "d", C - timedelta(days=5)), order("7", "d", C + timedelta(days=91)),  # after (c, c+90]: churned
])
TOUCHES = frame("interactions", [
    touch("a", C - timedelta(days=20), "cart_abandon", "mobile_app"),
    touch("a", C - timedelta(days=60), "support_contact", "support"),
    touch("a", C - timedelta(days=120), "complaint", "support"),   # older than 90 days: not counted
    touch("a", C - timedelta(days=2), "unsubscribe", "email"),
    touch("a", C + timedelta(days=1), "cart_abandon"),              # after the cutoff: never seen
])
SURVEYS = frame("surveys", [
    {"timestamp": C - timedelta(days=30), "score": 9, "survey_type": "nps", "customer_id": "a"},
    {"timestamp": C - timedelta(days=3), "score": 4, "survey_type": "nps", "customer_id": "a"},
    {"timestamp": C + timedelta(days=3), "score": 10, "survey_type": "nps", "customer_id": "a"},
])


def test_eligibility_and_labels_at_a_cutoff():
    f = churn_features(TOUCHES, ORDERS, SURVEYS, C)
    assert f["customer_id"].to_list() == ["a", "b", "d"]  # c has no order on or before the cutoff
    assert labels(ORDERS, f, C, 90).tolist() == [0, 1, 1]


def test_features_of_one_customer_by_hand():
    a = churn_features(TOUCHES, ORDERS, SURVEYS, C).row(0, named=True)
    assert a["days_since_last_order"] == 10 and a["tenure_days"] == 100
    assert (a["orders"], a["revenue"], a["aov"]) == (2, 80.0, 40.0)
    assert a["distinct_channels"] == 5  # web, store (orders) + mobile_app, support, email (touches)
    assert (a["cart_abandons_90"], a["support_contacts_90"], a["ever_unsubscribed"]) == (1, 1, 1)
    assert a["days_since_cart_abandon"] == 20 and a["days_since_last_touch"] == 2
    assert (a["touches_30"], a["touches_90"]) == (2, 3)
    assert (a["last_nps"], a["has_nps"]) == (4, 1)  # the later score before the cutoff, not the one after


def test_no_feature_uses_data_after_the_cutoff():
    before = churn_features(TOUCHES, ORDERS, SURVEYS, C)
    future = pl.concat([TOUCHES, frame("interactions", [touch("b", C + timedelta(hours=1), "complaint")])])
    assert churn_features(future, ORDERS, SURVEYS, C).equals(before)


def test_short_history_shrinks_the_horizon_and_very_short_history_says_so():
    few = frame("orders", [order(str(i), f"c{i}", C - timedelta(days=60 - i)) for i in range(10)])
    result, frame_ = churn_risk(TOUCHES, few, None, C)
    assert frame_ is None and "at least 90 days" in result["error"]


@pytest.fixture(scope="module")
def sample():
    from omni_metrics.sample import generate

    return generate(customers=3000, seed=11)


def test_model_beats_the_recency_baseline_on_the_sample_and_is_deterministic(sample):
    orders = sample["orders"].filter(pl.col("status") == "completed")
    as_of = sample["interactions"]["timestamp"].max()
    result, scores = churn_risk(sample["interactions"], orders, sample["surveys"], as_of)
    assert result["roc_auc"] > result["baseline_roc_auc"] + 0.01, result
    assert scores["churn_risk"].min() >= 0 and scores["churn_risk"].max() <= 1
    assert set(scores["risk_band"].unique()) <= {"high", "medium", "low"}
    high = scores.filter(pl.col("risk_band") == "high")
    assert high["risk_reasons"].is_not_null().all() and high["risk_reasons"].str.len_chars().min() > 0
    again, scores_again = churn_risk(sample["interactions"], orders, sample["surveys"], as_of)
    assert scores_again.equals(scores) and again == result
    # Short history: with a 400-day horizon, 2H + 30 = 830 exceeds the ~730 days of data → a third of the span.
    shorter, _ = churn_risk(sample["interactions"], orders, sample["surveys"], as_of, horizon_days=400)
    span = (as_of.date() - orders["timestamp"].min().date()).days
    assert "notice" in shorter and shorter["horizon_days"] == span // 3
