"""The engine's rollups give the same numbers on polars and DuckDB: on hand-made frames and the whole sample."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from report_checks import assert_same

from omni_metrics import engine
from omni_metrics.loading import load_files
from omni_metrics.report import Settings, build_report, prepare
from omni_metrics.report import touches as polars_touches

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sample_tables() -> dict[str, pl.DataFrame]:
    return load_files(sorted((ROOT / "sample_data").glob("*.csv*"))).tables


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def small_touches() -> pl.DataFrame:
    interactions = pl.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "b", "b"],
        "timestamp": [ts("2024-01-01 10:00"), ts("2024-01-01 10:30"), ts("2024-01-01 11:01"),
                      ts("2024-01-01 10:05"), ts("2024-02-01 09:00"), ts("2024-02-01 09:10"),
                      ts("2024-02-03 09:00")],
        "channel": ["web", "web", "web", "email", "app", "web", "app"],
        "event_type": ["page_view", "add_to_cart", "purchase", "email_open", "app_open", "page_view", "purchase"],
        "session_id": [None, None, None, None, "s1", "s1", None],
        "campaign": [None] * 7, "order_id": [None, None, "o1", None, None, None, "o2"],
    }).with_row_index("row_nr")
    return interactions


def on_duckdb(frame: pl.DataFrame, con: duckdb.DuckDBPyConnection):
    return con.from_arrow(frame.to_arrow())


def test_touch_seq_matches_the_polars_tie_order():
    i = small_touches()
    expected = polars_touches(i, None).select("customer_id", "row_nr", "touch_seq").sort("customer_id", "touch_seq")
    got = engine.collect(engine.lazy(engine.touches(i, None))).select("customer_id", "row_nr", "touch_seq")
    assert_frame_equal(got.sort("customer_id", "touch_seq"), expected, check_dtypes=False)


@pytest.mark.parametrize("in_time_order", [True, False])
def test_touch_seq_with_many_same_moment_ties_matches_duckdb(in_time_order):
    """Same customer, same second, several events, both with the rows in time order (the fast path) and
    shuffled: polars' touch_seq equals the one DuckDB computes from the full tie keys."""
    import random

    rnd = random.Random(11)
    moments = [ts("2024-03-01 10:00:00"), ts("2024-03-01 10:00:01"), ts("2024-03-02 08:00:00")]
    rows = [{"customer_id": f"c{rnd.randrange(6)}", "timestamp": rnd.choice(moments),
             "channel": rnd.choice(["web", "store", "email", None]),
             "event_type": rnd.choice(["page_view", "add_to_cart", "purchase", "email_open"]),
             "session_id": rnd.choice([None, "s1", "s2"]), "campaign": None,
             "order_id": rnd.choice([None, "o1", "o2"])} for _ in range(300)]
    interactions = pl.DataFrame(rows, schema={"customer_id": pl.String, "timestamp": pl.Datetime("us"),
                                              "channel": pl.String, "event_type": pl.String,
                                              "session_id": pl.String, "campaign": pl.String,
                                              "order_id": pl.String})
    if in_time_order:
        interactions = interactions.sort("timestamp", maintain_order=True)
    interactions = interactions.with_row_index("row_nr")
    mine = polars_touches(interactions, None)
    assert mine["timestamp"].is_sorted() == in_time_order
    con = duckdb.connect()
    theirs = engine.collect(engine.lazy(engine.touches(on_duckdb(interactions, con), None)))
    key = ["customer_id", "row_nr", "touch_seq"]
    assert_frame_equal(mine.select(key).sort(key), theirs.select(key).sort(key), check_dtypes=False)
    # the codes: one per customer, equal ids equal codes
    pairs = mine.select("customer_id", "customer_code").unique()
    assert pairs.height == mine["customer_id"].n_unique() == pairs["customer_code"].n_unique()
    # the rows in (customer_code, touch_seq) order come with them (the session index takes them)
    code, seq, rows = engine.pl_customer_seq(mine.drop("customer_code", "touch_seq"))
    assert rows.tolist() == pl.DataFrame({"c": code, "s": seq}).with_row_index("r").sort("c", "s")["r"].to_list()


@pytest.mark.parametrize("how", [{"exact": True}, {}, {"cut_bits": 2}, {"hash_bits": 40, "cut_bits": 3}])
def test_customer_groups_by_hash_cut_hash_or_exact_code(how):
    """_key_groups lists each id's places together in time order, whatever the key: exact codes, the 64-bit
    hash, or a hash cut to 2–3 bits (every cut key met by many ids: the re-sort in place must split them)."""
    import random

    rnd = random.Random(5)
    ids = pl.Series("customer_id", [rnd.choice([f"c{k}" for k in range(40)] + [None]) for _ in range(500)])
    at, code, seq = engine._key_groups(ids, **how)
    assert sorted(at.tolist()) == list(range(500))
    listed = ids.gather(pl.Series(at))
    for c in np.unique(code):
        places = at[code == c]
        assert listed.filter(pl.Series(code == c)).n_unique() == 1  # one id per group …
        assert places.tolist() == sorted(places.tolist())  # … its places in time order, numbered from 0
        assert seq[code == c].tolist() == list(range(len(places)))
    assert len(np.unique(code)) == ids.n_unique()  # … and one group per id (null included)


def test_customer_groups_refuse_a_hash_that_joins_two_ids():
    """With the hash cut to 3 bits, 40 ids must share keys: the second hash sees it (the caller then codes the
    ids exactly)."""
    ids = pl.Series("customer_id", [f"c{k % 40}" for k in range(400)])
    assert engine._key_groups(ids, hash_bits=3) is None
    assert engine._key_groups(ids) is not None


def test_first_rows_of_each_code():
    codes = pl.Series([5, 2, 5, 0, 2, 7], dtype=pl.UInt32)
    # first rows: 5 at 0, 2 at 1, 0 at 3, 7 at 5
    assert engine._first_rows(codes).to_list() == [0, 1, 3, 5]
    assert engine._first_rows(codes).to_list() == codes.is_first_distinct().arg_true().to_list()
    with_null = pl.Series([None, 3, None, 3, 1], dtype=pl.UInt32)  # not a table's job: is_first_distinct
    assert engine._first_rows(with_null).to_list() == [0, 1, 4]
    assert engine._first_rows(pl.Series([], dtype=pl.UInt32)).to_list() == []


def test_funnel_by_table_equals_the_grouped_count_and_duckdb(monkeypatch):
    t = polars_touches(small_touches(), None)
    key = ["channel", "stage_rank"]
    by_table = engine.funnel_best(t).sort(key, nulls_last=True)
    on_duck = engine.funnel_best(on_duckdb(t, duckdb.connect())).sort(key, nulls_last=True)
    assert_frame_equal(by_table, on_duck, check_dtypes=False)
    monkeypatch.setattr(engine, "_PAIR_TABLE_CELLS", 0)  # too big for a table: the grouped count
    assert_frame_equal(engine.funnel_best(t).sort(key, nulls_last=True), by_table)
    # both customers bought (a on web, b in the app): overall, 2 customers whose best stage is the purchase;
    # email only saw a's email_open, so its one customer's best stage is lower
    purchase = by_table["stage_rank"].max()
    assert by_table.filter(pl.col("channel").is_null()).rows() == [(None, purchase, 2)]
    assert by_table.filter(pl.col("channel") == "email")["stage_rank"].to_list()[0] < purchase


def test_distinct_pairs_by_table_and_by_sort_agree(monkeypatch):
    a = pl.Series([3, 0, 3, 2, 0, 3], dtype=pl.UInt32)
    b = pl.Series([1, 5, 1, 0, 5, 0], dtype=pl.Int64)
    by_table = engine._distinct_pairs(a, b)
    # (0,5), (2,0), (3,0), (3,1): each pair once, in (a, b) order, with the inputs' types
    assert by_table.rows() == [(0, 5), (2, 0), (3, 0), (3, 1)]
    assert by_table.schema == pl.Schema({"a": pl.UInt32, "b": pl.Int64})
    monkeypatch.setattr(engine, "_PAIR_TABLE_CELLS", 0)  # too big for a table: the sorted packed keys
    assert_frame_equal(engine._distinct_pairs(a, b), by_table)


def test_sessions_and_facts_on_hand_made_touches_agree_on_polars_and_duckdb():
    t = polars_touches(small_touches(), None)
    con = duckdb.connect()
    results = []
    for native in (t, on_duckdb(t, con)):
        conv = engine.channel_conversion(native, 30).sort("channel")
        facts = engine.customer_facts(native, None, ts("2024-03-01 00:00"), "month").facts.sort("customer_id")
        results.append((conv, facts))
    (conv_p, facts_p), (conv_d, facts_d) = results
    assert_frame_equal(conv_p, conv_d, check_dtypes=False)
    assert_frame_equal(facts_p, facts_d, check_dtypes=False)
    # a's web touches 10:00, 10:30 (exactly 30 min: same session), 11:01 (31 min: new, converts) → 2 web
    # sessions, 1 converting; a's email touch 1 session; b's s1 starts on app → 1 app session (the web touch in it
    # does not make a web session), b's app purchase on Feb 3 without a session id → a 2nd app session, converting.
    by = {r["channel"]: r for r in conv_p.to_dicts()}
    assert (by["web"]["sessions"], by["web"]["converting_sessions"]) == (2, 1)
    assert (by["email"]["sessions"], by["app"]["sessions"], by["app"]["converting_sessions"]) == (1, 2, 1)
    assert (by["web"]["visitors"], by["web"]["buyers"]) == (2, 1)
    # journeys in touch order, repeats collapsed: a = web(10:00) > email(10:05) > web; b = app > web > app
    assert facts_p["steps"].to_list() == [["web", "email", "web"], ["app", "web", "app"]]
    # b is active on Feb 1 and Feb 3: one gap of 2 days; silent since Feb 3 → 27 days to Mar 1
    b = facts_p.filter(pl.col("customer_id") == "b").row(0, named=True)
    assert (b["active_days"], b["own_gap"], b["days_silent"]) == (2, 2.0, 27)
    assert b["last_touch_event"] == "purchase" and b["converted"]


def test_facts_reuse_the_touches_customer_codes_and_code_orders_only_customers():
    """The polars per-customer facts take the touches' customer codes and look the orders' customers up; a
    customer seen only in orders gets a code of its own. Same facts as coding the ids afresh, and as DuckDB."""
    t = polars_touches(small_touches(), None)
    orders = pl.DataFrame({
        "order_id": ["o1", "o2", "o3", "o4"], "customer_id": ["a", "b", "c", "c"],
        "timestamp": [ts("2024-01-01 11:01"), ts("2024-02-03 09:00"), ts("2024-02-10 12:00"),
                      ts("2024-02-20 12:00")],
        "channel": ["web", "app", "store", "store"], "revenue": [10.0, 20.0, 30.0, 40.0],
    })
    as_of = ts("2024-03-01 00:00")
    reused = engine.customer_facts(t, orders, as_of, "month").facts.sort("customer_id")
    fresh = engine.customer_facts(t.drop("customer_code"), orders, as_of, "month").facts.sort("customer_id")
    assert_frame_equal(reused, fresh)
    con = duckdb.connect()
    on_duck = engine.customer_facts(on_duckdb(t, con), on_duckdb(orders, con), as_of, "month").facts
    assert_frame_equal(reused, on_duck.sort("customer_id"), check_dtypes=False)
    # orders coded by the cut (report.prepare) take the integer-keyed order side: the same facts
    coded = orders.with_columns(engine.order_customer_codes(t, orders))
    assert_frame_equal(engine.customer_facts(t, coded, as_of, "month").facts.sort("customer_id"), reused)
    # c only ordered (in store, on Feb 10 and 20): one channel, two active days 10 days apart; silent from Feb 20
    # to Mar 1 2024 (a leap year: Feb 29 exists) = 10 days
    c = reused.filter(pl.col("customer_id") == "c").row(0, named=True)
    assert (c["n_channels"], c["active_days"], c["own_gap"], c["days_silent"]) == (1, 2, 10.0, 10)
    assert c["steps"] is None and c["last_touch_channel"] is None and not c["converted"]


def test_each_customer_codes_id_from_touch_0_or_from_first_rows():
    """_touch_ids names each customer code once: from the rows of touch 0 when every code has one (a cut), else
    from each code's first row (a view that dropped some customers' earliest touches)."""
    t = polars_touches(small_touches(), None)
    def ids(frame):
        return {code: id_ for code, id_ in engine._touch_ids(frame).iter_rows()}
    truth = dict(t.select("customer_code", "customer_id").unique().iter_rows())
    assert ids(t) == truth
    view = t.filter(pl.col("touch_seq") > 0)  # every customer with two touches or more, none with its touch 0
    assert view.height and ids(view) == {c: truth[c] for c in view["customer_code"].unique()}
    mixed = t.filter((pl.col("touch_seq") > 0) | (pl.col("customer_id") == t["customer_id"][0]))
    assert ids(mixed) == {c: truth[c] for c in mixed["customer_code"].unique()}


def test_order_facts_first_order_tie_and_monetary_value_agree():
    orders = pl.DataFrame({
        "order_id": ["o2", "o1", "o3", "o4"], "customer_id": ["a", "a", "a", "b"],
        "timestamp": [ts("2024-01-05 10:00"), ts("2024-01-05 10:00"), ts("2024-01-20 12:00"),
                      ts("2024-03-31 23:00")],
        "channel": ["web", "store", "web", "app"], "revenue": [10.0, 30.0, 25.0, 7.0],
        "status": ["completed"] * 4, "margin": [None] * 4,
    }, schema_overrides={"margin": pl.Float64}).with_row_index("row_nr")
    t = polars_touches(None, orders)
    con = duckdb.connect()
    got = []
    coded = orders.with_columns(engine.order_customer_codes(t, orders))  # the integer-keyed order side
    for tn, on in ((t, coded), (on_duckdb(t, con), on_duckdb(orders, con)), (t, orders)):
        r = engine.customer_facts(tn, on, ts("2024-04-01 00:00"), "week")
        got.append((r.facts.sort("customer_id"), r.activity.sort("customer_id", "p")))
    assert_frame_equal(got[0][0], got[1][0], check_dtypes=False)
    assert_frame_equal(got[0][1], got[1][1], check_dtypes=False)
    assert_frame_equal(got[0][0], got[2][0])
    a = got[0][0].row(0, named=True)
    # a's two orders at the same moment: the smaller order_id (o1, store) is the first order
    assert a["acquisition_channel"] == "store"
    # purchase days Jan 5 (40) and Jan 20 (25): frequency 1, recency 15, T = Apr 1 − Jan 5 = 87, monetary 25
    assert (a["frequency"], a["recency"], a["T"], a["monetary_value"]) == (1, 15.0, 87.0, 25.0)
    # weeks: Jan 5 2024 is a Friday of the week of Mon Jan 1, Jan 20 a Saturday of the week of Mon Jan 15
    assert got[0][1].filter(pl.col("customer_id") == "a")["p"].diff().to_list()[1:] == [2]


# The BG/NBD + Gamma-Gamma fit moves by ~1e-7 between two runs of the very same polars report (float sums in
# parallel group-bys feed an optimiser), so the model's outputs are compared at 1e-5; everything else at 1e-9.
MODEL_COLUMNS = ["p_alive", "expected_purchases", "expected_aov", "predicted_clv", "predicted_clv_margin"]


@pytest.mark.parametrize("settings", [
    Settings(), Settings(period="week", start=datetime(2025, 1, 1).date()),
    Settings(channels=("web", "store", "email"), segments={"segment": ("Regular",)}, session_gap_minutes=10)])
def test_the_whole_report_is_the_same_on_polars_and_duckdb(sample_tables, settings):
    p = build_report(sample_tables, settings)
    d = build_report(sample_tables, Settings(**{**settings.__dict__, "engine": "duckdb"}))
    data_p, data_d = dict(p.data), dict(d.data)
    assert data_d.pop("settings") == {**data_p.pop("settings"), "engine": "duckdb"}
    assert_same(data_p, data_d, clv_tol=1e-5)
    model = [c for c in MODEL_COLUMNS if c in p.customers.columns]
    assert_frame_equal(p.customers.drop(model), d.customers.drop(model), check_exact=False, rel_tol=1e-9,
                       abs_tol=1e-9)
    assert_frame_equal(p.customers.select(model), d.customers.select(model), check_exact=False, rel_tol=1e-5,
                       abs_tol=1e-5)
    assert p.data["overall"]["sessions"] > 0 and p.data["cohorts"]
    # the trend (per period of the window) is a frame only: the polars path counts it from customer-days
    assert_frame_equal(p.frames["trend"], d.frames["trend"], check_exact=False, rel_tol=1e-9, check_dtypes=False)


def test_report_sessions_equal_the_polars_reference(sample_tables):
    """The engine's sessions equal report.sessions (the plain polars definition) on the sample."""
    from omni_metrics.report import sessions

    prep = prepare(sample_tables, Settings())
    reference = sessions(prep.touches, 30).group_by("channel").agg(
        pl.len().alias("sessions"), pl.col("converts").sum().alias("converting_sessions")).sort("channel")
    got = engine.channel_conversion(prep.touches, 30).select("channel", "sessions", "converting_sessions")
    assert_frame_equal(got.sort("channel"), reference, check_dtypes=False)


@pytest.mark.parametrize("hash_bits", [62, 2])
def test_session_index_gives_each_views_sessions(sample_tables, monkeypatch, hash_bits):
    """The sessions of a view (channels, segment, start date) from one SessionIndex of the whole cut equal
    the plain polars definition (report.sessions) computed on the view's touches alone, and per day the
    engine's own sessions of the view. With two bits of hash
    per session id, ids of one customer collide and the index must notice and code them exactly. An index made
    for another gap (with_gap) gives the same."""
    from omni_metrics.report import _since, sessions

    monkeypatch.setattr(engine.SessionIndex, "HASH_BITS", hash_bits)
    cut = prepare(sample_tables, Settings())
    whole = cut.touches
    assert whole["session_id"].drop_nulls().n_unique() > 100  # enough ids for 2-bit hashes to collide
    thirty = engine.SessionIndex(whole, 30, cut.touch_rows)  # the touch order from the cut (as build_report does)
    for gap, index in ((30, thirty), (5, engine.SessionIndex(whole, 5)), (5, thirty.with_gap(5)),
                       (1, thirty.with_gap(1)), (240, thirty.with_gap(240))):  # found again; another gap's index
        for settings in (Settings(), Settings(channels=("web", "store")), Settings(segments={"segment": ("Regular",)}),
                         Settings(start=datetime(2025, 9, 1).date(), channels=("mobile_app", "web", "email"))):
            view = _since(prepare(sample_tables, settings).touches,
                          datetime(2025, 9, 1) if settings.start else None)
            reference = sessions(view, gap).group_by("channel").agg(
                pl.len().alias("sessions"), pl.col("converts").sum().alias("converting_sessions"))
            got = index.days(view)
            assert got["sessions"].sum() > 0
            per_channel = got.group_by("channel").agg(pl.col("sessions", "converting_sessions").sum())
            assert_frame_equal(per_channel.sort("channel"), reference.sort("channel"), check_dtypes=False)
            key = ["channel", "day"]  # and per day of the session's start, as the engine sessionises the view
            assert_frame_equal(got.sort(key), engine.session_days(view, gap).sort(key))


def test_an_index_under_another_gap_splits_sessions_as_one_built_for_it():
    """SessionIndex.with_gap gives the session numbers an index built for that gap gives, at the gap's edge
    too: touches exactly the gap apart are one session, a microsecond more apart are two."""
    t0, minute, micro = ts("2024-01-01 10:00"), timedelta(minutes=1), timedelta(microseconds=1)
    # apart by 30 min, 31 min, 30 min + 1 µs, 61 min
    stamps = [t0, t0 + 30 * minute, t0 + 61 * minute, t0 + 91 * minute + micro, t0 + 152 * minute + micro]
    interactions = pl.DataFrame({
        "customer_id": ["a"] * 5, "timestamp": stamps, "channel": ["web"] * 5, "event_type": ["page_view"] * 5,
        "session_id": pl.Series([None] * 5, dtype=pl.String), "campaign": pl.Series([None] * 5, dtype=pl.String),
        "order_id": pl.Series([None] * 5, dtype=pl.String),
    })
    touches = prepare({"interactions": interactions}, Settings()).touches
    built = {gap: engine.SessionIndex(touches, gap) for gap in (30, 31, 61)}
    assert [built[gap].session.tolist() for gap in (30, 31, 61)] == [[1, 1, 2, 3, 4], [1, 1, 1, 1, 2], [1] * 5]
    for gap, index in built.items():
        for other in built.values():
            assert np.array_equal(other.with_gap(gap).session, index.session)


def test_window_tables_and_customer_days_equal_the_functions_they_stand_in_for(sample_tables, monkeypatch):
    """window_tables (visitors and buyers per channel, window counts, best funnel stages in one pass) and
    SessionIndex.customer_days equal channel_conversion's grouped counts, window_counts, funnel_best by
    grouping and touch_days, on views of the sample."""
    from omni_metrics.report import _since

    whole = prepare(sample_tables, Settings()).touches
    index = engine.SessionIndex(whole, 30)
    for settings in (Settings(), Settings(channels=("web", "store")), Settings(segments={"segment": ("Regular",)}),
                     Settings(start=datetime(2025, 9, 1).date(), channels=("mobile_app", "web", "email"))):
        prep = prepare(sample_tables, settings)
        start = datetime(2025, 9, 1) if settings.start else None
        view, orders = _since(prep.touches, start), _since(prep.orders, start)
        got = engine.window_tables(view, orders)
        assert got is not None and got["counts"]["visitors"] > 0
        assert got["counts"] == engine.window_counts(view, orders)
        reference = engine.channel_conversion(view, 30).select("channel", "visitors", "buyers")
        assert_frame_equal(got["people"].sort("channel"), reference.sort("channel"))
        key = ["channel", "stage_rank"]
        with monkeypatch.context() as patch:
            patch.setattr(engine, "_PAIR_TABLE_CELLS", 0)  # the reference funnel: the grouped count
            reference = engine.funnel_best(view).sort(key, nulls_last=True)
        assert_frame_equal(got["funnel"].sort(key, nulls_last=True), reference)
        assert_frame_equal(index.customer_days(index.view(view)), engine.touch_days(view))
        # the session index's cells of the view (packed from its flags) give the same tables
        cells = index.window_tables(index.stage_cells(index.view(view)), orders)
        assert cells["counts"] == got["counts"]
        assert_frame_equal(cells["people"].sort("channel"), got["people"].sort("channel"))
        assert_frame_equal(cells["funnel"].sort(key, nulls_last=True), reference)


def test_coded_facts_equal_the_general_path_on_views_and_odd_customers(sample_tables):
    """_pl_coded_facts (arrays by customer code, from the session index's places or one sort) gives the
    general path's facts on the sample's views, and on hand-made rows with what the sample lacks: a touch
    without a channel, a customer seen only in orders, an even number of gaps between active days."""
    hand = {
        "interactions": pl.DataFrame({
            "customer_id": ["a", "a", "a", "a", "b", "b"],
            "timestamp": [ts("2024-01-01 10:00"), ts("2024-01-03 10:00"), ts("2024-01-04 10:00"),
                          ts("2024-01-10 10:00"), ts("2024-01-02 09:00"), ts("2024-01-02 09:05")],
            "channel": ["web", None, "email", "web", None, "store"],
            "event_type": ["page_view", "page_view", "email_open", "purchase", "page_view", "store_visit"],
            "session_id": [None] * 6, "campaign": [None] * 6, "order_id": [None, None, None, "o1", None, None]}),
        "orders": pl.DataFrame({
            "order_id": ["o1", "o2", "o3"], "customer_id": ["a", "c", "c"],
            "timestamp": [ts("2024-01-10 10:00"), ts("2024-01-05 12:00"), ts("2024-01-08 12:00")],
            "channel": ["web", "store", "store"], "revenue": [10.0, 20.0, 30.0],
            "status": ["completed"] * 3}),
    }
    # a: active Jan 1, 3, 4, 10 → gaps 2, 1, 6 → median 2; journey web > email > web (the missing channel is
    # no step); c only ordered: two days 3 apart, no journey, not converted
    for tables, views in ((hand, (Settings(), Settings(channels=("web", "store")))),
                          (sample_tables, (Settings(), Settings(channels=("web", "store")),
                                           Settings(channels=("email",))))):
        whole = prepare(tables, Settings())
        index = engine.SessionIndex(whole.touches, 30)
        for settings in views:
            prep = prepare(tables, settings)
            t, orders = prep.touches, prep.orders
            as_of_day = (prep.as_of.date() - date(1970, 1, 1)).days
            general = engine._pl_touch_facts(t.drop("channel_code"), orders.drop("channel_code"), as_of_day)
            for places in (None, index.places(index.view(t))):
                coded = engine._pl_coded_facts(t, orders, as_of_day, places).drop("customer_code")
                assert coded is not None
                # from the index's places in customer_id order, flagged so (a later sort costs nothing), unless a
                # customer only ordered (no place in the index's ranking of touch customers: the hand-made c)
                flagged = coded["customer_id"].flags["SORTED_ASC"]
                assert flagged == (places is not None and tables is not hand)
                ids = coded["customer_id"].to_list()
                assert not flagged or ids == sorted(ids)
                assert_frame_equal(coded.sort("customer_id"), general.sort("customer_id"))
                if places is not None:  # the facts without the steps, and the steps on their own (the index's)
                    bare = engine._pl_coded_facts(t, orders, as_of_day, places, steps=False)
                    assert_frame_equal(bare.drop("customer_code"), coded.drop("steps"))
                    joined = bare.join(index.journey_steps(index.view(t)), on="customer_code", how="left").drop(
                        "customer_code")
                    assert_frame_equal(joined.sort("customer_id"), general.sort("customer_id"), check_column_order=False)
            if tables is hand and not settings.channels:
                a, b, c = general.sort("customer_id").rows(named=True)
                assert (a["own_gap"], a["steps"], a["n_channels"], a["converted"]) == (2.0, ["web", "email", "web"],
                                                                                      3, True)
                assert (b["n_channels"], b["steps"], b["last_touch_channel"]) == (2, [None, "store"], "store")
                assert (c["active_days"], c["own_gap"], c["steps"], c["converted"]) == (2, 3.0, None, False)


def test_lookup_codes_by_hash_equal_the_text_join():
    """_lookup_codes joins 64-bit hashes of the ids: the same codes as joining the text (null for a null id
    and for one not known)."""
    known = pl.DataFrame({"code": pl.Series([4, 0, 7], dtype=pl.UInt32), "customer_id": ["a", "b", "c"]})
    ids = pl.Series("customer_id", ["c", None, "zz", "a", "a", "b", ""])
    text = ids.to_frame().join(known, on="customer_id", how="left", maintain_order="left")["code"]
    assert engine._lookup_codes(ids, known).to_list() == text.to_list() == [7, None, None, 4, 4, 0, None]


def test_order_facts_by_runs_equal_the_grouped_ones(sample_tables):
    """_pl_order_facts reads each customer's orders as a run of rows (the cut keeps its orders in customer,
    time, order_id order; shuffled ones are sorted first): the same facts as grouping them, whatever the rows'
    order, with ties in time broken by order_id (a missing one first)."""
    prep = prepare(sample_tables, Settings())
    orders = prep.orders
    as_of_day = (prep.as_of.date() - date(1970, 1, 1)).days
    # a tie in time for one customer: the first order is the one with the smaller (or missing) order_id
    first = orders.row(0, named=True)
    tied = pl.DataFrame([first | {"order_id": None, "channel": "social", "row_nr": 10**6}], schema=orders.schema)
    for frame in (orders, pl.concat([orders, tied]), orders.sample(fraction=1.0, shuffle=True, seed=3)):
        grouped = engine._pl_order_facts_grouped(
            frame.select(pl.col("customer_code").alias("c"), "customer_id", "timestamp", "order_id", "channel",
                         "revenue").sort("c", "timestamp", "order_id"), as_of_day, None)
        runs = engine._pl_order_facts(frame, as_of_day)
        assert_frame_equal(runs.sort("customer_id"), grouped.sort("customer_id"), check_dtypes=True)
        assert engine._in_order(frame.select(pl.col("customer_code").alias("c"), "timestamp", "order_id")) \
            == (frame is orders)
    assert runs.height > 100


@pytest.mark.parametrize("day_span", [700, 2**28])  # days that pack into 32 bits with the codes, and that do not
def test_active_days_equal_a_grouped_count_and_median(day_span):
    """_active_days (the distinct active days of places and order days merged, the last one and the median gap
    between them) equals grouping the union of the (customer, day) pairs, for customers with touches only,
    orders only, both, one active day and an even number of gaps; on small days and on days too wide to pack
    into 32 bits."""
    rng = np.random.default_rng(5)
    c = np.sort(rng.integers(0, 300, 5_000)).astype(np.uint32)
    day = rng.integers(0, day_span, 5_000)
    order = np.lexsort((day, c))
    c, day = c[order], day[order].astype(np.int32 if day_span < 2**31 else np.int64)
    od = pl.DataFrame({"c": rng.integers(250, 400, 800).astype(np.uint32), "day": rng.integers(0, day_span, 800)}) \
        .unique().sort("c", "day")
    od_c, od_day = od["c"].to_numpy(), od["day"].to_numpy()
    active, last_day, own_gap = engine._active_days(c, day, od_c, od_day)
    pairs = pl.concat([pl.DataFrame({"c": c, "day": day.astype(np.int64)}), od]).unique().sort("c", "day")
    want = pairs.with_columns(gap=(pl.col("day") - pl.col("day").shift(1)).over("c").cast(pl.Float64)) \
        .group_by("c", maintain_order=True).agg(active=pl.len(), last=pl.col("day").max(), own=pl.col("gap").median())
    assert want["active"].to_list() == active.tolist()
    assert want["last"].to_list() == last_day.tolist()
    assert want["own"].to_list() == [None if np.isnan(x) else x for x in own_gap]
    assert {1, 2, 3} <= set(active.tolist())  # one day (no gap), one gap, two gaps (a median of two)
    # the touch days given as known: the same
    got = engine._active_days(c, day, od_c, od_day, engine._distinct_days(c, day))
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(got, (active, last_day, own_gap), strict=True))
