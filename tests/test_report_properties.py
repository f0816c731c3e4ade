"""Properties of the report over generated tables (hypothesis): bounds, identities, filters that never add."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omni_metrics.report import Settings, build_report
from omni_metrics.schema import EVENT_TYPES, TABLES

CHANNELS = ["web", "mobile_app", "store", "email"]
START = datetime(2024, 1, 1)
customers = st.sampled_from([f"c{i:02d}" for i in range(12)])
moments = st.integers(0, 200 * 24 * 60).map(lambda m: START + timedelta(minutes=m))


def _frame(table, rows):
    schema = TABLES[table].dtypes
    return pl.DataFrame({c: [r.get(c) for r in rows] for c in schema}, schema=schema)


@st.composite
def datasets(draw):
    orders = draw(st.lists(st.fixed_dictionaries({
        "customer_id": customers, "timestamp": moments, "channel": st.sampled_from(CHANNELS),
        "revenue": st.floats(0, 500, allow_nan=False).map(lambda v: round(v, 2)),
        "status": st.sampled_from(["completed", "completed", "completed", "cancelled"]),
    }), min_size=1, max_size=25))
    for i, o in enumerate(orders):
        o["order_id"] = f"o{i:03d}"
    touches = draw(st.lists(st.fixed_dictionaries({
        "customer_id": customers, "timestamp": moments, "channel": st.sampled_from(CHANNELS),
        "event_type": st.sampled_from(list(EVENT_TYPES)),
        "session_id": st.one_of(st.none(), st.sampled_from(["s1", "s2"])),
    }), min_size=1, max_size=40))
    surveys = draw(st.lists(st.fixed_dictionaries({
        "timestamp": moments, "score": st.integers(0, 10), "survey_type": st.just("nps"),
        "customer_id": st.one_of(st.none(), customers), "channel": st.sampled_from(CHANNELS),
    }), max_size=15))
    tables = {"orders": _frame("orders", orders), "interactions": _frame("interactions", touches)}
    if surveys:
        tables["surveys"] = _frame("surveys", surveys)
    return tables


def _rates(report):
    d = report.data
    for c in d["channels"]:
        yield from (c["session_conversion_rate"], c["customer_conversion_rate"])
    yield from (f["rate_from_previous"] for f in d["funnel"])
    yield from (c["retention"] for c in d["cohorts"])
    yield from (r["retention_rate"] for r in d["retention_rate"])
    yield from (m["silent_share"] for m in d["silent_moments"])
    yield from (j["converted_share"] for j in d["journeys"])
    yield from (m["repeat_purchase_rate"] for m in d["channel_mix"])
    yield d["overall"]["repeat_purchase_rate"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets())
def test_bounds_and_identities(tables):
    report = build_report(tables)
    assert all(r is None or 0 <= r <= 1 + 1e-12 for r in _rates(report))
    for c in report.data["channels"]:
        assert c["visitors"] >= c["buyers"]
        assert c["nps"] is None or -100 <= c["nps"] <= 100
    nps = report.data["overall"]["nps"]
    assert nps is None or -100 <= nps <= 100
    # Σ cohort revenue = revenue of completed orders; cohort size = customers whose first order is in it.
    cohorts = report.frames["cohorts"]
    assert abs(cohorts["revenue"].sum() - (report.data["overall"]["revenue"] or 0)) < 1e-6
    sizes = dict(cohorts.filter(pl.col("offset") == 0).select("cohort", "size").rows())
    firsts = report.customers.filter(pl.col("cohort").is_not_null()).group_by("cohort").len()
    assert sizes == dict(firsts.rows())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datasets(), st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3, unique=True),
       st.integers(0, 200))
def test_filters_never_make_a_count_grow(tables, channels, day):
    full = build_report(tables).data
    narrowed = [build_report(tables, Settings(channels=tuple(channels))).data,
                build_report(tables, Settings(start=date(2024, 1, 1) + timedelta(days=day))).data]
    for part in narrowed:
        for key in ("customers", "visitors", "buyers", "sessions", "converting_sessions", "orders",
                    "nps_responses"):
            assert (part["overall"][key] or 0) <= (full["overall"][key] or 0), key
