"""The report on small hand-worked tables (the arithmetic is in the comments) and on the sample."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from report_checks import assert_same

from omni_metrics.report import Memo, Settings, add_models, build_report, prepare, touches
from omni_metrics.schema import TABLES

ROOT = Path(__file__).resolve().parent.parent


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """A canonical frame: the given columns, the others null."""
    schema = TABLES[table].dtypes
    data = {c: [r.get(c) for r in rows] for c in schema}
    return pl.DataFrame(data, schema=schema)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def touch(cid, when, channel, event, **kw):
    return {"customer_id": cid, "timestamp": ts(when), "channel": channel, "event_type": event, **kw}


def order(oid, cid, when, channel, revenue, status="completed"):
    return {"order_id": oid, "customer_id": cid, "timestamp": ts(when), "channel": channel, "revenue": revenue,
            "status": status}


def channel_row(report, channel):
    return next(c for c in report.data["channels"] if c["channel"] == channel)


def test_sessions_split_after_exactly_thirty_minutes():
    # Customer a on web: 10:00, 10:30 (gap exactly 30 min: same session), 11:00:01 (gap 30 min 1 s: new one).
    # Customer b has a session_id: its session counts under its first touch's channel (app), even though the
    # purchase is on web. So web: 2 sessions (a), app: 1 session (b, converting).
    t = frame("interactions", [
        touch("a", "2024-01-01 10:00:00", "web", "visit"),
        touch("a", "2024-01-01 10:30:00", "web", "product_view"),
        touch("a", "2024-01-01 11:00:01", "web", "purchase", order_id="o1"),
        touch("b", "2024-01-01 09:00:00", "mobile_app", "visit", session_id="s1"),
        touch("b", "2024-01-01 09:05:00", "web", "purchase", session_id="s1", order_id="o2"),
    ])
    o = frame("orders", [order("o1", "a", "2024-01-01 11:00:01", "web", 100.0),
                         order("o2", "b", "2024-01-01 09:05:00", "web", 50.0)])
    r = build_report({"interactions": t, "orders": o})
    web, app = channel_row(r, "web"), channel_row(r, "mobile_app")
    assert (web["sessions"], web["converting_sessions"]) == (2, 1)
    assert (app["sessions"], app["converting_sessions"]) == (1, 1)
    # visitors per channel are people with a touch there: web a and b; buyers have a purchase touch there.
    assert (web["visitors"], web["buyers"], web["customer_conversion_rate"]) == (2, 2, 1.0)
    assert (app["visitors"], app["buyers"], app["customer_conversion_rate"]) == (1, 0, 0.0)
    assert r.data["overall"]["sessions"] == 3 and r.data["overall"]["converting_sessions"] == 2


def test_funnel_counts_this_stage_or_later():
    # a reaches checkout (intent) without a product view: counted at awareness, consideration and intent.
    # b only visits. So web: awareness 2, consideration 1, intent 1, conversion 0.
    t = frame("interactions", [
        touch("a", "2024-01-01 10:00:00", "web", "checkout"),
        touch("b", "2024-01-01 10:00:00", "web", "visit"),
    ])
    r = build_report({"interactions": t})
    web = [f for f in r.data["funnel"] if f["channel"] == "web"]
    assert [(f["stage"], f["customers"]) for f in web] == [
        ("awareness", 2), ("consideration", 1), ("intent", 1), ("conversion", 0)]
    # rates: 1/2, 1/1, 0/1; the first stage has none.
    assert [f["rate_from_previous"] for f in web] == [None, 0.5, 1.0, 0.0]
    assert r.data["overall"]["orders"] is None and r.data["channels"][0]["aov"] is None


def test_nps_and_its_margin_of_error():
    # 10 responses: 5 promoters (9, 10), 3 passives, 2 detractors → P = .5, D = .2, NPS = 100·(.5−.2) = 30.
    # MoE = 196·sqrt((P + D − (P − D)²)/n) = 196·sqrt((.7 − .09)/10) = 196·sqrt(.061) = 48.408…
    scores = [9, 10, 9, 10, 9, 7, 8, 7, 3, 6]
    s = frame("surveys", [{"timestamp": ts(f"2024-01-0{i % 9 + 1} 12:00:00"), "score": v, "survey_type": "nps",
                           "channel": "store"} for i, v in enumerate(scores)]
              + [{"timestamp": ts("2024-01-02 12:00:00"), "score": v, "survey_type": "csat", "channel": "store"}
                 for v in (5, 4, 2, 1)])
    t = frame("interactions", [touch("a", "2024-01-01 10:00:00", "store", "store_visit")])
    r = build_report({"interactions": t, "surveys": s})
    o = r.data["overall"]
    assert o["nps"] == pytest.approx(30.0)
    assert o["nps_moe"] == pytest.approx(196 * math.sqrt(0.061))
    assert o["nps_responses"] == 10
    assert o["csat"] == pytest.approx(50.0)  # 2 of 4 CSAT responses score ≥ 4


def test_cohort_cells_partial_and_retention_rate():
    # a: first order Jan, again Mar (as_of month). b: first order Feb only. as_of = 2024-03-10.
    o = frame("orders", [order("1", "a", "2024-01-05 10:00:00", "web", 10.0),
                         order("2", "b", "2024-02-05 10:00:00", "store", 20.0),
                         order("3", "a", "2024-03-10 10:00:00", "web", 30.0),
                         order("4", "a", "2024-03-11 10:00:00", "web", 99.0, status="cancelled")])
    r = build_report({"orders": o}, Settings(as_of=datetime(2024, 3, 10, 23, 59)))
    cells = {(c["cohort"], c["offset"]): c for c in r.data["cohorts"]}
    # Jan cohort: offsets 0, 1, 2 exist (Feb has no active customer: retention 0), Mar is partial.
    assert [(k, cells[("2024-01", k)]["active"]) for k in range(3)] == [(0, 1), (1, 0), (2, 1)]
    assert cells[("2024-01", 2)]["partial"] and not cells[("2024-01", 1)]["partial"]
    assert cells[("2024-01", 2)]["revenue"] == 30.0  # the cancelled order never counts
    assert ("2024-02", 2) not in cells  # after the as_of period
    # Retention: Feb — Jan buyers {a}, none bought in Feb → 0; Mar — Feb buyers {b} → b did not → 0.
    assert [(x["period"], x["retention_rate"]) for x in r.data["retention_rate"]] == [("2024-02", 0.0),
                                                                                      ("2024-03", 0.0)]
    assert r.data["overall"]["repeat_purchase_rate"] == 0.5  # a has 2 orders, b 1
    assert r.data["rows"]["orders"]["after_as_of"] == 1


def test_silent_customer_and_lift():
    # as_of 2024-06-30. a: active 01-01, 01-11, 01-21 → gaps 10, 10 → typical 10; silent 161 days > max(20, 30).
    # b: active 06-29 → typical = median of typical gaps = 10; silent 1 day → not silent.
    # c: active 03-01 → typical 10; 121 days → silent. Silent share overall 2/3.
    t = frame("interactions", [
        touch("a", "2024-01-01 10:00:00", "web", "visit"), touch("a", "2024-01-11 10:00:00", "web", "visit"),
        touch("a", "2024-01-21 10:00:00", "mobile_app", "cart_abandon"),
        touch("b", "2024-06-29 10:00:00", "web", "visit"), touch("c", "2024-03-01 10:00:00", "mobile_app",
                                                                 "cart_abandon"),
    ])
    r = build_report({"interactions": t}, Settings(as_of=datetime(2024, 6, 30, 12)))
    c = {row["customer_id"]: row for row in r.customers.to_dicts()}
    assert (c["a"]["typical_gap"], c["a"]["days_silent"], c["a"]["silent"]) == (10.0, 161, True)
    assert (c["b"]["typical_gap"], c["b"]["silent"]) == (10.0, False)
    assert r.data["overall"]["silent_customers"] == 2
    moments = {(m["last_touch_channel"], m["last_touch_event"]): m for m in r.data["silent_moments"]}
    # app cart abandon: 2 customers, both silent → share 1, lift 1 / (2/3) = 1.5
    assert moments[("mobile_app", "cart_abandon")]["lift"] == pytest.approx(1.5)
    assert moments[("web", "visit")]["lift"] == 0.0


def test_omnichannel_premium_and_journeys():
    # a: web then store, revenue 300 (2 channels). b: web only, 100. c: web only, 50 → 1-channel avg 75.
    # premium = 300 / 75 = 4.
    t = frame("interactions", [
        touch("a", "2024-01-01 10:00:00", "web", "visit"), touch("a", "2024-01-02 10:00:00", "web", "visit"),
        touch("a", "2024-01-03 10:00:00", "store", "purchase", order_id="1"),
        touch("b", "2024-01-01 10:00:00", "web", "purchase", order_id="2"),
        touch("c", "2024-01-01 10:00:00", "web", "purchase", order_id="3"),
    ])
    o = frame("orders", [order("1", "a", "2024-01-03 10:00:00", "store", 300.0),
                         order("2", "b", "2024-01-01 10:00:00", "web", 100.0),
                         order("3", "c", "2024-01-01 10:00:00", "web", 50.0)])
    r = build_report({"interactions": t, "orders": o})
    assert r.data["overall"]["omnichannel_premium"] == pytest.approx(4.0)
    journeys = {j["path"]: j for j in r.data["journeys"]}
    assert journeys["web > store"]["customers"] == 1  # consecutive web touches collapse
    assert journeys["web"]["avg_revenue"] == pytest.approx(75.0)


def test_rfm_ntile_ties_broken_by_customer_id():
    # 6 buyers with equal values: NTILE(5) over 6 rows gives bucket sizes 2,1,1,1,1 in customer-id order.
    o = frame("orders", [order(str(i), f"c{i}", "2024-01-01 10:00:00", "web", 10.0) for i in range(6)])
    r = build_report({"orders": o})
    scores = dict(zip(r.customers["customer_id"], r.customers["f"], strict=True))
    assert [scores[f"c{i}"] for i in range(6)] == [1, 1, 2, 3, 4, 5]


def test_rfm_scores_equal_sql_ntile_on_the_sample(sample_tables):
    """r, f, m of every buyer of the sample equal SQL's NTILE(5) (DuckDB) over the same ordering and ties."""
    import duckdb

    facts = build_report(sample_tables.tables, models=False).inputs.facts
    buyers = facts.filter(pl.col("orders") > 0).select(
        "customer_id", pl.col("last_order").dt.date().alias("last_day"), "orders", "revenue", "r", "f", "m")
    assert buyers.height > 1000 and buyers["f"].n_unique() == 5
    as_of = date(2026, 1, 1)  # any day: recency ranks by the last order's day either way
    con = duckdb.connect()
    con.register("buyers", buyers.to_arrow())
    want = con.sql(f"""
        SELECT customer_id,
               NTILE(5) OVER (ORDER BY DATE '{as_of}' - last_day DESC, customer_id) AS r,
               NTILE(5) OVER (ORDER BY orders, customer_id) AS f,
               NTILE(5) OVER (ORDER BY revenue, customer_id) AS m FROM buyers ORDER BY customer_id""").pl()
    assert_frame_equal(buyers.sort("customer_id").select("customer_id", "r", "f", "m"), want, check_dtypes=False)


def test_orders_only_become_purchase_touches():
    o = frame("orders", [order("1", "a", "2024-01-01 10:00:00", "store", 10.0)])
    r = build_report({"orders": o})
    assert channel_row(r, "store")["sessions"] == 1 and channel_row(r, "store")["buyers"] == 1
    assert "Upload survey responses" in " ".join(r.data["notes"])
    assert r.data["overall"]["nps"] is None and r.data["overall"]["cac"] is None


def test_settings_query_round_trip():
    s = Settings(period="week", start=date(2024, 1, 1), channels=("web", "store"), segments={"region": ("İzmir",)},
                 silence_factor=3.0, position_weights=(0.3, 0.4, 0.3))
    assert Settings.from_query(s.to_query()) == s
    assert Settings.from_query({"period": "decade", "silence_factor": "abc"}) == Settings()


@pytest.fixture(scope="module")
def sample_tables():
    from omni_metrics.loading import load_files

    files = sorted(p for p in (ROOT / "sample_data").iterdir() if not p.name.endswith(".md"))
    return load_files(files)


def test_sample_report_rates_and_filters(sample_tables):
    full = build_report(sample_tables.tables)
    for c in full.data["channels"]:
        for key in ("session_conversion_rate", "customer_conversion_rate"):
            assert c[key] is None or 0 <= c[key] <= 1
        assert c["visitors"] >= c["buyers"]
    assert -100 <= full.data["overall"]["nps"] <= 100
    cohorts = full.frames["cohorts"]
    assert cohorts["revenue"].sum() == pytest.approx(full.data["overall"]["revenue"])
    web = build_report(sample_tables.tables, Settings(channels=("web",)))
    later = build_report(sample_tables.tables, Settings(start=date(2025, 1, 1)))
    for filtered in (web, later):
        for key in ("customers", "visitors", "sessions", "orders"):
            assert filtered.data["overall"][key] <= full.data["overall"][key]
    assert web.data["overall"]["orders"] < full.data["overall"]["orders"]


def test_models_added_later_give_the_same_report(sample_tables):
    """The dashboard shows the descriptive figures first and adds the models to that report later: the result
    is the report built in one go, key for key and customer for customer."""
    settings = Settings(period="quarter", channels=("web", "store", "email"))
    whole = build_report(sample_tables.tables, settings)
    first = build_report(sample_tables.tables, settings, models=False)
    assert first.data["clv"] == {"error": "not computed yet"} and first.customers["predicted_clv"].null_count() \
        == first.customers.height
    later = add_models(first)
    assert later.inputs is None and whole.inputs is None
    # Equal up to the last bits of a float: polars sums in parallel, so two builds of the same report can
    # already differ in the 16th digit of a revenue total.
    assert list(later.data) == list(whole.data)
    assert_same(json.loads(later.to_json()), json.loads(whole.to_json()), abs_tol=1e-12)
    assert later.customers["predicted_clv"].null_count() < later.customers.height
    assert_frame_equal(later.customers, whole.customers, check_exact=False, rel_tol=1e-9)
    assert later.frames.keys() == whole.frames.keys()
    for name, frame in whole.frames.items():
        assert_frame_equal(later.frames[name], frame, check_exact=False, rel_tol=1e-9)
    with pytest.raises(ValueError, match="no model inputs"):
        add_models(whole)


def test_filtered_touches_keep_the_tie_order_of_touches_built_from_filtered_tables(sample_tables):
    """prepare() filters the touches of the whole cut instead of building touches from filtered tables: the
    rows and their per-customer order are the same either way (the tie order is a property of each row)."""
    tables = sample_tables.tables
    as_of = prepare(tables, Settings()).as_of
    interactions = tables["interactions"].with_row_index("row_nr").filter(pl.col("timestamp") <= as_of)
    orders = tables["orders"].with_row_index("row_nr").filter(
        (pl.col("timestamp") <= as_of) & (pl.col("status").fill_null("completed") == "completed"))
    add_orders = not (interactions["event_type"] == "purchase").any()
    for channels, segments in ((("web", "store"), {}), (None, {"segment": ("Regular",)}),
                               (("email", "mobile_app"), {"loyalty_tier": ("Gold", "Silver")})):
        keep = pl.lit(True)
        if channels:
            keep &= pl.col("channel").is_in(list(channels))
        for attribute, values in segments.items():
            ids = tables["customers"].filter(pl.col(attribute).is_in(list(values)))["customer_id"]
            keep &= pl.col("customer_id").is_in(ids.implode())
        direct = touches(interactions.filter(keep), orders.filter(keep), add_orders=add_orders)
        prep = prepare(tables, Settings(channels=channels, segments=segments))
        assert prep.touches.height == direct.height > 0
        key = ["customer_id", "touch_seq"]
        assert_frame_equal(prep.touches.sort(key).select("customer_id", "source", "row_nr"),
                           direct.sort(key).select("customer_id", "source", "row_nr"))


def test_a_memo_gives_the_reports_built_without_it(sample_tables):
    """The dashboard builds report after report of one dataset through one Memo, which hands each report the
    parts an earlier one computed for the same cut, filters, window or settings: every report must equal the
    one built from scratch — frame for frame and customer for customer — whatever came before it."""
    tables, memo = sample_tables.tables, Memo(size=2)
    views = [
        {}, {"period": "week"}, {"start": "2025-09-01"}, {"seg.segment": "Regular"},
        {"seg.segment": "Regular", "period": "quarter"}, {"channels": "web,store"},
        {"channels": "web,store", "session_gap_minutes": "45"},  # the window under another gap: its sessions
        {"channels": "web,store", "seg.loyalty_tier": "Gold,Silver"}, {"start": "2025-09-01"},
        {"start": "2025-09-01", "channels": "email,store", "seg.segment": "Regular"}, {"silence_factor": "3.0"},
        {"session_gap_minutes": "10"}, {"as_of": "2025-12-31"}, {"seg.segment": "Regular"}, {"period": "week"}, {},
        # an earlier as_of (the dashboard's end date) is a view of the latest cut: by day, or mid-day
        {"end": "2025-10-31"}, {"end": "2025-09-30", "channels": "web,store"}, {"end": "2025-06-30", "period": "week"},
        {"end": "2025-10-31", "start": "2025-09-01", "seg.segment": "Regular"}, {"as_of": "2025-11-15T12:30:00"},
    ]
    for query in views:
        settings = Settings.from_query(query)
        got = build_report(tables, settings, models=False, memo=memo)
        want = build_report(tables, settings, models=False)
        assert_same(json.loads(got.to_json()), json.loads(want.to_json()))
        assert_frame_equal(got.customers, want.customers)
        assert got.frames.keys() == want.frames.keys()
        for name, frame in want.frames.items():
            assert_frame_equal(got.frames[name], frame, check_exact=False, rel_tol=1e-9), (query, name)
        if not settings.channels and not settings.segments:
            continue  # the models read the filtered touches and orders: compare them where a filter made those
        later, fresh = add_models(got), build_report(tables, settings)
        assert_same(json.loads(later.to_json()), json.loads(fresh.to_json()), abs_tol=1e-12, clv_tol=1e-6)
    kinds = {key[0] for key in memo._parts}
    assert kinds == {"cut", "earlier", "view", "mask", "sessions", "window", "facts", "lifetime", "figures",
                     "order_days"} \
        and len(memo._parts) <= 3 * len(kinds)  # the first of each kind and the 2 newest others


def test_a_memo_keeps_the_first_part_of_each_kind_and_the_newest_others():
    """The first view of a dataset (the one it opened on) is where a reader comes back to: a few filter changes
    later its parts are still there, while the others of a kind go oldest first."""
    memo = Memo(size=2)
    for i in range(5):
        memo.get(("facts", i), lambda i=i: i)
    memo.get(("window", 0), lambda: "w")
    assert memo.peek(("facts", 3)) == 3  # now the newest facts
    memo.get(("facts", 5), lambda: 5)
    assert list(memo._parts) == [("facts", 0), ("window", 0), ("facts", 3), ("facts", 5)]


def test_an_end_dates_order_days_are_the_latest_cuts_up_to_that_day(sample_tables):
    """Through the Memo an end date's orders per customer-day are the latest cut's up to that day (not worked
    out again): the same frame as from its own orders; a mid-day as_of works them out."""
    from omni_metrics import engine

    tables, memo = sample_tables.tables, Memo()
    build_report(tables, Settings(channels=("web", "store")), models=False, memo=memo)
    for query in ({"end": "2025-10-31", "channels": "web,store"}, {"as_of": "2025-10-31T12:00:00",
                                                                  "channels": "web,store"}):
        settings = Settings.from_query(query)
        build_report(tables, settings, models=False, memo=memo)
        prep = prepare(tables, settings, memo)  # the latest cut's rows, with its customer codes
        got = memo.peek(("order_days", prep.as_of, settings.channels, (), "polars"))
        assert_frame_equal(got, engine.order_days(prep.orders))
        assert got["day"].max() == (prep.as_of.date() - date(1970, 1, 1)).days


def test_an_earlier_as_of_before_any_purchase_interaction_is_cut_from_the_tables(sample_tables):
    """Orders become purchase touches when the interactions up to as_of hold no purchase (DATA.md): an end date
    before the first purchase interaction turns them on, so that cut cannot be rows of the latest one. Through
    the Memo the report must still be the one built alone, and one a day later (purchases on) too."""
    tables, memo = sample_tables.tables, Memo()
    interactions = tables["interactions"]
    late = interactions.filter((pl.col("event_type") != "purchase") | (pl.col("timestamp") >= datetime(2025, 3, 1)))
    tables = tables | {"interactions": late}
    for query in ({}, {"end": "2025-02-27"}, {"end": "2025-03-01"}, {"end": "2025-02-27", "channels": "web"}):
        settings = Settings.from_query(query)
        got = build_report(tables, settings, models=False, memo=memo)
        want = build_report(tables, settings, models=False)
        assert_same(json.loads(got.to_json()), json.loads(want.to_json()))
        assert_frame_equal(got.customers, want.customers)
    earlier = memo.peek(("earlier", datetime(2025, 2, 27, 23, 59, 59, 999999)))
    assert earlier.root is None and (earlier.touches["source"] == 1).any()  # cut from the tables, orders in
    assert memo.peek(("earlier", datetime(2025, 3, 1, 23, 59, 59, 999999))).root is not None


def test_a_channel_filter_regroups_sessions_that_span_channels(sample_tables):
    """A session_id shared by touches of several channels: a channel filter splits the session (its touches in
    other channels leave it), so the filtered view's sessions are not rows of the unfiltered view's (as they
    are when no session spans channels) — through the Memo they must still equal the report built alone."""
    from omni_metrics import engine

    interactions = sample_tables.tables["interactions"]
    # every session of a third of the customers becomes one per customer and day, whatever its channel
    merged = pl.col("customer_id") + "-" + pl.col("timestamp").dt.date().cast(pl.String)
    spanning = interactions.with_columns(
        pl.when(pl.col("session_id").is_not_null() & (pl.col("customer_id").hash(seed=1) % 3 == 0))
        .then(merged).otherwise(pl.col("session_id")).alias("session_id"))
    tables, memo = sample_tables.tables | {"interactions": spanning}, Memo()
    for query in ({}, {"channels": "web,store"}, {"start": "2025-09-01"}, {"start": "2025-09-01", "channels": "web"}):
        settings = Settings.from_query(query)
        got = build_report(tables, settings, models=False, memo=memo)
        want = build_report(tables, settings, models=False)
        assert_same(json.loads(got.to_json()), json.loads(want.to_json()))
        assert_frame_equal(got.frames["trend"], want.frames["trend"])
    index = next(part for key, part in memo._parts.items() if key[0] == "sessions")
    assert isinstance(index, engine.SessionIndex) and not index.sessions_in_one_channel()


def test_a_reports_sections_are_made_on_first_read_and_read_like_a_dict(sample_tables):
    """The figures only some pages read (cohorts, NPS per period, silent moments, journeys, RFM, the
    per-customer table) are made on first read: the Overview's figures come without them, and the cohort grid
    (Retention) comes without the journeys, RFM and per-customer table (the rest). However the report is read —
    a key, get, iteration, items, a copy, `|`, `**`, JSON — the values are the report's, never the
    placeholders."""
    from omni_metrics.report import LazyDict

    report = build_report(sample_tables.tables, Settings(), models=False)
    assert isinstance(report.data, LazyDict) and isinstance(report.frames, LazyDict)
    assert report.data["overall"]["customers"] > 0 and report.frames["trend"].height > 0
    assert report.data.get("missing") == {} and "cohorts" in report.frames and len(report.frames) > 10
    later = set(report.frames._later)
    assert {"cohorts", "retention_rate", "nps_by_period", "journeys", "sankey", "rfm"} <= later
    sections = report.inputs.sections
    assert sections._make is not None  # nothing of the rest made yet
    assert report.frames.get("cohorts").height > 0 and report.data["retention_rate"] and sections._make is not None
    assert report.frames["journeys"].height > 0 and sections._make is None
    for reader in (lambda d: dict(d), lambda d: {**d}, lambda d: d | {}, lambda d: d.copy(),
                   lambda d: dict(d.items()), lambda d: {k: d[k] for k in d}):
        got = reader(build_report(sample_tables.tables, Settings(), models=False).frames)
        assert all(got[key] is not None for key in later), reader
    fresh = build_report(sample_tables.tables, Settings(), models=False)
    data_later = set(fresh.data._later)
    parsed = json.loads(fresh.to_json())
    assert data_later and all(parsed[key] is not None for key in data_later)
    assert_same(parsed, json.loads(report.to_json()))  # (spend sums in parallel: equal up to rounding)
    fresh = build_report(sample_tables.tables, Settings(), models=False)
    assert fresh.customers.height == report.customers.height > 0 and "rfm_segment" in fresh.customers.columns


def test_cli_report_writes_json_and_customers(tmp_path):
    out, csv = tmp_path / "r.json", tmp_path / "c.csv"
    done = subprocess.run([sys.executable, "-m", "omni_metrics.cli", "report", str(ROOT / "sample_data"),
                           "--json-out", str(out), "--customers-out", str(csv), "--period", "quarter"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    for key in ("as_of", "rows", "overall", "channels", "funnel", "cohorts", "retention_rate", "clv",
                "nps_by_period", "silent_moments", "churn", "attribution", "journeys", "channel_mix", "rfm"):
        assert key in data
    header = csv.read_text().splitlines()[0].split(",")
    assert header[:4] == ["customer_id", "first_order", "cohort", "acquisition_channel"]
    assert "customers" in done.stdout


def test_rfm_scores_placed_by_the_buyers_rows_equal_joining_them():
    """_with_rfm places the buyers' RFM scores by their rows (facts and scores both in customer_id order)
    instead of joining ids: the same frame as the join, with non-buyers (no or zero orders) between buyers; and
    facts out of id order take the join."""
    from omni_metrics.metrics import rfm
    from omni_metrics.report import _with_rfm

    facts = pl.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e", "f", "g"],
        "orders": [2, 0, 1, None, 5, 1, 0],
        "revenue": [20.0, 0.0, 5.0, 0.0, 80.0, 12.0, 0.0],
        "last_order": [datetime(2025, 3, 1), None, datetime(2025, 1, 9), None, datetime(2025, 3, 20),
                       datetime(2025, 2, 2), None],
    })
    as_of = date(2025, 3, 31)
    joined = facts.join(rfm.rfm_scores(facts.filter(pl.col("orders") > 0), as_of), on="customer_id", how="left")
    assert_frame_equal(_with_rfm(facts, as_of), joined)
    assert _with_rfm(facts, as_of)["r"].null_count() == 3  # b, d, g bought nothing
    shuffled = facts.reverse()
    assert_frame_equal(_with_rfm(shuffled, as_of).sort("customer_id"), joined)


def test_a_lazy_dict_makes_each_later_key_once_and_tries_a_failed_one_again():
    """LazyDict: a later key is made on its first read (not on another key's) and once; a maker that raised is
    tried again on the next read, never leaving the placeholder as the value."""
    from omni_metrics.report import LazyDict

    calls = {"a": 0, "b": 0}

    def make_a():
        calls["a"] += 1
        if calls["a"] == 1:
            raise RuntimeError("first try fails")
        return "A"

    def make_b():
        calls["b"] += 1
        return "B"

    d = LazyDict({"x": 1, "a": None, "b": None}, {"a": make_a, "b": make_b})
    assert d["x"] == 1 and calls == {"a": 0, "b": 0}
    assert d["b"] == "B" and d["b"] == "B" and calls == {"a": 0, "b": 1}
    with pytest.raises(RuntimeError):
        d["a"]  # noqa: B018
    assert d["a"] == "A" and dict(d) == {"x": 1, "a": "A", "b": "B"} and calls == {"a": 2, "b": 1}
