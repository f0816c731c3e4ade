"""Tests of multi-touch attribution (METRICS.md §7): path rules, every model by hand, Markov exact vs Monte Carlo."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omni_metrics.metrics.attribution import (
    MODELS,
    PATH_COLUMNS,
    attribution_details,
    attribution_report,
    conversion_paths,
)

T0 = datetime(2024, 3, 1)


def at(days: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(days=days, seconds=seconds)


def touches(rows: list[tuple]) -> pl.DataFrame:
    """(customer_id, datetime, channel, event_type[, order_id]) rows, already in each customer's time order.

    touch_seq numbers each customer's rows in the order given, as the engine's tie rule would.
    """
    frame = pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [r[1] for r in rows],
            "channel": [r[2] for r in rows],
            "event_type": [r[3] for r in rows],
            "order_id": [r[4] if len(r) > 4 else None for r in rows],
        },
        schema={"customer_id": pl.String, "timestamp": pl.Datetime("us"), "channel": pl.String,
                "event_type": pl.String, "order_id": pl.String},
    )
    return frame.with_columns(touch_seq=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("customer_id"))


def orders(rows: list[tuple[str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "customer_id": ["x"] * len(rows),
            "timestamp": [T0] * len(rows),
            "channel": ["web"] * len(rows),
            "revenue": [float(r[1]) for r in rows],
        },
        schema={"order_id": pl.String, "customer_id": pl.String, "timestamp": pl.Datetime("us"),
                "channel": pl.String, "revenue": pl.Float64},
    )


NO_ORDERS = orders([])


def table(frame: pl.DataFrame) -> dict[tuple[str, str], tuple[float | None, float | None]]:
    return {(r["channel"], r["model"]): (r["conversions"], r["value"]) for r in frame.iter_rows(named=True)}


def paths_of(frame: pl.DataFrame) -> list[tuple[str, bool, float, list[str]]]:
    """(customer, converted, value, channels) per path, in order."""
    grouped = frame.sort("customer_id", "touch_seq").group_by("path_id", maintain_order=True).agg(
        pl.col("customer_id").first(),
        pl.col("converted").first(), pl.col("value").first(), pl.col("channel")
    )
    return [(r["customer_id"], r["converted"], r["value"], r["channel"]) for r in grouped.iter_rows(named=True)]


# --- paths ---------------------------------------------------------------------------------------------------


def test_lookback_boundary_is_inclusive():
    # Conversion at day 30. The touch exactly 30 days before is in [t − 30 d, t]; one 30 days and 1 second
    # before is out. The dropped touch is before the customer's only conversion, so it is on no path at all.
    t = touches([
        ("a", at(0, -1), "social", "impression"),
        ("a", at(0), "email", "email_open"),
        ("a", at(30), "web", "purchase", "o1"),
    ])
    p = conversion_paths(t, orders([("o1", 80)]))
    assert p.columns == list(PATH_COLUMNS)
    assert paths_of(p) == [("a", True, 80.0, ["email", "web"])]
    # A shorter lookback moves the boundary.
    assert paths_of(conversion_paths(t, orders([("o1", 80)]), lookback_days=29)) == [("a", True, 80.0, ["web"])]


def test_touches_are_used_once_and_repeat_purchases_get_their_own_path():
    # email(d0) web-purchase(d1) social(d2) web-purchase(d3): the email is within 30 days of the second
    # purchase too, but the first path already took it, so path 2 = social, web.
    t = touches([
        ("a", at(0), "email", "email_open"),
        ("a", at(1), "web", "purchase", "o1"),
        ("a", at(2), "social", "ad_click"),
        ("a", at(3), "web", "purchase", "o2"),
    ])
    p = conversion_paths(t, orders([("o1", 10), ("o2", 20)]))
    assert paths_of(p) == [("a", True, 10.0, ["email", "web"]), ("a", True, 20.0, ["social", "web"])]
    assert p.select("customer_id", "touch_seq").is_unique().all()


def test_a_touch_too_old_for_the_next_conversion_goes_to_no_later_one():
    # web(d0) purchase(d40) email(d45) purchase(d50): the d0 touch is outside the d40 window, hence (times
    # grow with touch_seq) outside the d50 window too; the d45 email belongs to the d50 conversion only.
    t = touches([
        ("a", at(0), "web", "visit"),
        ("a", at(40), "store", "purchase", "o1"),
        ("a", at(45), "email", "email_click"),
        ("a", at(50), "web", "purchase", "o2"),
    ])
    assert paths_of(conversion_paths(t, orders([("o1", 1), ("o2", 2)]))) == [
        ("a", True, 1.0, ["store"]), ("a", True, 2.0, ["email", "web"]),
    ]


def test_null_paths():
    t = touches([
        # b never converts: null path = touches within 30 days of the last touch (d45): d20 and d45, not d10.
        ("b", at(10), "social", "impression"),
        ("b", at(20), "email", "email_open"),
        ("b", at(45), "web", "visit"),
        # c converts, then keeps browsing: the null path is what comes after the conversion.
        ("c", at(0), "email", "email_open"),
        ("c", at(1), "web", "purchase", "o1"),
        ("c", at(2), "mobile_app", "visit"),
        # b2 has no conversion either: its own null path, not b's.
        ("b2", at(44), "store", "store_visit"),
        # d's last touch is a purchase: no null path.
        ("d", at(0), "store", "purchase", "o2"),
        # e: a touch at the same moment as the purchase but after it in tie order is not on its path.
        ("e", at(5), "web", "purchase", "o3"),
        ("e", at(5), "web", "visit"),
    ])
    p = conversion_paths(t, orders([("o1", 5), ("o2", 6), ("o3", 7)]))
    assert paths_of(p) == [
        ("b", False, 0.0, ["email", "web"]),
        ("b2", False, 0.0, ["store"]),
        ("c", True, 5.0, ["email", "web"]),
        ("c", False, 0.0, ["mobile_app"]),
        ("d", True, 6.0, ["store"]),
        ("e", True, 7.0, ["web"]),
        ("e", False, 0.0, ["web"]),
    ]
    ends = p.group_by("customer_id", "path_id").agg(pl.col("path_end_time").first()).sort("customer_id")
    assert ends.row(0)[2] == at(45)  # b's null path ends at the last touch


def test_value_linking_and_an_order_counted_once():
    t = touches([
        ("a", at(0), "web", "purchase", "o1"),  # the earliest purchase touch of o1: 100
        ("a", at(1), "mobile_app", "purchase", "o1"),  # o1 again: 0
        ("a", at(2), "web", "purchase", "missing"),  # no completed order with that id: 0
        ("a", at(3), "store", "purchase"),  # no order id: 0
        # o2 is claimed by two customers at the same moment: the smaller id as text ("b" < "c") gets it.
        ("c", at(4), "web", "purchase", "o2"),
        ("b", at(4), "web", "purchase", "o2"),
    ])
    p = conversion_paths(t, orders([("o1", 100), ("o2", 40)]))
    assert [(c, v) for c, _, v, _ in paths_of(p)] == [
        ("a", 100.0), ("a", 0.0), ("a", 0.0), ("a", 0.0), ("b", 40.0), ("c", 0.0)
    ]
    details = attribution_details(t, orders([("o1", 100), ("o2", 40)]))
    assert details.totals["conversions"] == 6 and details.totals["value"] == 140.0


def sample_touches(customers: int = 300) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Synthetic interactions and completed orders, touch_seq by (customer, time, row order) as the bench does."""
    from omni_metrics.sample import generate

    tables = generate(customers=customers, seed=11)
    ordered = tables["orders"].filter(pl.col("status") == "completed")
    t = (
        tables["interactions"]
        .with_row_index("_row")
        .sort("customer_id", "timestamp", "_row")
        .with_columns(touch_seq=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("customer_id"))
        .drop("_row")
    )
    return t, ordered


def test_same_paths_on_polars_and_duckdb():
    t, o = sample_touches()
    eager = conversion_paths(t, o)
    lazy = conversion_paths(t.lazy(), o.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    con = duckdb.connect()
    con.register("t", t.to_arrow())
    con.register("o", o.to_arrow())
    relation = conversion_paths(con.table("t"), con.table("o"))
    assert isinstance(relation, duckdb.DuckDBPyRelation)
    from_duckdb = relation.pl()
    assert eager.height > 1000 and eager["converted"].any() and not eager["converted"].all()
    eager = eager.sort("path_id", "touch_seq")
    assert eager.equals(lazy.collect().sort("path_id", "touch_seq"))
    assert eager.schema == from_duckdb.schema
    assert eager.equals(from_duckdb.sort("path_id", "touch_seq"))
    # The report runs on a DuckDB relation too, with the same figures.
    assert attribution_report(con.table("t"), con.table("o")).equals(attribution_report(t, o))


# --- the rule-based models -----------------------------------------------------------------------------------

# Three conversions, lookback 30 days, half-life 7 days:
#   A: email d0, social d7, web-purchase d14 (o1 = 100)    ages 14 d, 7 d, 0
#   B: store-purchase d0 (o2 = 50)                         one touch
#   C: email d0, web-purchase d1 (o3 = 30)                 ages 1 d, 0
# Totals: 3 conversions, value 180.
HAND = touches([
    ("A", at(0), "email", "email_open"),
    ("A", at(7), "social", "ad_click"),
    ("A", at(14), "web", "purchase", "o1"),
    ("B", at(0), "store", "purchase", "o2"),
    ("C", at(0), "email", "email_click"),
    ("C", at(1), "web", "purchase", "o3"),
])
HAND_ORDERS = orders([("o1", 100), ("o2", 50), ("o3", 30)])


def check(result: dict, model: str, expected: dict[str, tuple[float, float]]) -> None:
    for channel, (conversions, value) in expected.items():
        got = result[(channel, model)]
        assert got[0] == pytest.approx(conversions, abs=1e-12), (model, channel)
        assert got[1] == pytest.approx(value, abs=1e-9), (model, channel)


def test_first_and_last_touch():
    r = table(attribution_report(HAND, HAND_ORDERS))
    # first: A → email (100), B → store (50), C → email (30)
    check(r, "first_touch", {"email": (2, 130), "social": (0, 0), "store": (1, 50), "web": (0, 0)})
    # last: A → web (100), B → store (50), C → web (30)
    check(r, "last_touch", {"email": (0, 0), "social": (0, 0), "store": (1, 50), "web": (2, 130)})


def test_linear():
    r = table(attribution_report(HAND, HAND_ORDERS))
    # A: 1/3 each (100/3 each); B: store 1 (50); C: 1/2 each (15 each)
    # email = 1/3 + 1/2 = 5/6, value 100/3 + 15; social 1/3, 100/3; web as email; store 1, 50
    check(r, "linear", {"email": (5 / 6, 100 / 3 + 15), "social": (1 / 3, 100 / 3), "store": (1, 50),
                        "web": (5 / 6, 100 / 3 + 15)})


def test_time_decay():
    r = table(attribution_report(HAND, HAND_ORDERS, half_life_days=7))
    # A: 2^(−14/7) = 1/4, 2^(−7/7) = 1/2, 2^0 = 1; sum 7/4 → email 1/7, social 2/7, web 4/7.
    # C: 2^(−1/7) = 0.905724…, 1 → email q = 2^(−1/7) / (1 + 2^(−1/7)) = 0.475265…, web 1 − q.
    q = 2 ** (-1 / 7) / (1 + 2 ** (-1 / 7))
    assert q == pytest.approx(0.475265, abs=1e-6)
    check(r, "time_decay", {
        "email": (1 / 7 + q, 100 / 7 + 30 * q),
        "social": (2 / 7, 200 / 7),
        "store": (1, 50),
        "web": (4 / 7 + 1 - q, 400 / 7 + 30 * (1 - q)),
    })
    # A one-day half-life: A's weights 2^−14, 2^−7, 1.
    r1 = table(attribution_report(HAND, HAND_ORDERS, half_life_days=1))
    s = 2**-14 + 2**-7 + 1
    assert r1[("social", "time_decay")][0] == pytest.approx(2**-7 / s, abs=1e-15)


def test_time_decay_counts_exact_seconds():
    # Ages 7 days and 1 second vs 0: weight 2^(−(604800 + 1)/604800) — not rounded to whole days.
    t = touches([("a", at(0), "email", "email_open"), ("a", at(7, 1), "web", "purchase", "o1")])
    r = table(attribution_report(t, orders([("o1", 1)])))
    w = 2 ** (-(604_801) / 604_800)
    assert r[("email", "time_decay")][0] == pytest.approx(w / (1 + w), abs=1e-15)
    assert r[("email", "time_decay")][0] != pytest.approx(1 / 3, abs=1e-7)


def test_position_based():
    r = table(attribution_report(HAND, HAND_ORDERS))
    # A (3 touches): email 0.4, social 0.2, web 0.4; B (1 touch): store 1; C (2 touches): 0.5 / 0.5.
    check(r, "position_based", {"email": (0.9, 40 + 15), "social": (0.2, 20), "store": (1, 50),
                                "web": (0.9, 40 + 15)})
    # Four touches: the middle 20 % is split in two.
    t = touches([("a", at(0), "email", "email_open"), ("a", at(1), "social", "impression"),
                 ("a", at(2), "store", "store_visit"), ("a", at(3), "web", "purchase", "o1")])
    r4 = table(attribution_report(t, orders([("o1", 10)])))
    check(r4, "position_based", {"email": (0.4, 4), "social": (0.1, 1), "store": (0.1, 1), "web": (0.4, 4)})
    # Other settings: 30/40/30 → two touches still 50/50, three touches 0.3/0.4/0.3.
    r2 = table(attribution_report(HAND, HAND_ORDERS, position_weights=(0.3, 0.4, 0.3)))
    check(r2, "position_based", {"email": (0.8, 30 + 15), "social": (0.4, 40), "web": (0.8, 30 + 15)})


# --- Markov --------------------------------------------------------------------------------------------------

# Four paths over three channels (consecutive repeats collapse: email, email, web, web → email, web):
#   1. email → web → conversion (value 100)      2. social → web → conversion (value 10)
#   3. email → social → null                     4. web → null
# Transitions: start → email 2/4, social 1/4, web 1/4; email → web 1/2, social 1/2;
#              social → web 1/2, null 1/2; web → conversion 2/3, null 1/3.
# Conversion probability from each state: x_web = 2/3, x_social = 1/2 · 2/3 = 1/3,
#   x_email = 1/2 · 2/3 + 1/2 · 1/3 = 1/2;  P = 1/2 · 1/2 + 1/4 · 1/3 + 1/4 · 2/3 = 1/2.
# Remove email (x_email = 0):  P = 1/4 · 1/3 + 1/4 · 2/3 = 1/4           → RE = 1 − (1/4)/(1/2) = 1/2
# Remove social (x_social = 0): x_email = 1/2 · 2/3 = 1/3, P = 1/2 · 1/3 + 1/4 · 2/3 = 1/3 → RE = 1/3
# Remove web: nothing converts, P = 0                                     → RE = 1
# Σ RE = 11/6 → shares email 3/11, social 2/11, web 6/11 of 2 conversions and value 110.
MARKOV = touches([
    ("p1", at(0), "email", "email_open"),
    ("p1", at(1), "email", "email_click"),
    ("p1", at(2), "web", "visit"),
    ("p1", at(2, 3600), "web", "purchase", "o1"),
    ("p2", at(0), "social", "impression"),
    ("p2", at(1), "web", "purchase", "o2"),
    ("p3", at(0), "email", "email_open"),
    ("p3", at(1), "social", "ad_click"),
    ("p4", at(0), "web", "visit"),
])
MARKOV_ORDERS = orders([("o1", 100), ("o2", 10)])


def test_markov_three_channels_by_hand():
    d = attribution_details(MARKOV, MARKOV_ORDERS)
    re = dict(d.removal_effects.select("channel", "removal_effect").iter_rows())
    assert re == pytest.approx({"email": 1 / 2, "social": 1 / 3, "web": 1.0}, abs=1e-12)
    assert d.totals["conversion_probability"] == pytest.approx(1 / 2, abs=1e-12)
    without = dict(d.removal_effects.select("channel", "conversion_probability_without").iter_rows())
    assert without == pytest.approx({"email": 1 / 4, "social": 1 / 3, "web": 0.0}, abs=1e-12)
    check(table(d.attribution), "markov", {"email": (6 / 11, 30), "social": (4 / 11, 20), "web": (12 / 11, 60)})
    counts = {(f, t): c for f, t, c, _ in d.transitions.iter_rows()}
    assert counts == {
        ("(start)", "email"): 2, ("(start)", "social"): 1, ("(start)", "web"): 1,
        ("email", "web"): 1, ("email", "social"): 1, ("social", "web"): 1, ("social", "(null)"): 1,
        ("web", "(conversion)"): 2, ("web", "(null)"): 1,
    }


def chain_from_paths(paths: list[tuple[list[str], bool]], channels: list[str]) -> np.ndarray:
    """Transition probabilities (test's own counting), states: channels…, start, conversion, null."""
    k = len(channels)
    index = {c: i for i, c in enumerate(channels)}
    counts = np.zeros((k + 3, k + 3))
    for steps, converted in paths:
        collapsed = [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]
        states = [k] + [index[s] for s in collapsed] + [k + 1 if converted else k + 2]
        for a, b in zip(states, states[1:], strict=False):
            counts[a, b] += 1
    counts[k + 1, k + 1] = counts[k + 2, k + 2] = 1  # absorbing
    return counts / counts.sum(axis=1, keepdims=True).clip(min=1)


def exact_by_removal(prob: np.ndarray, k: int) -> tuple[float, np.ndarray]:
    """One dense solve per removed channel (the textbook way, independent of the module's factorisation)."""
    def p_conv(removed: int | None) -> float:
        keep = [i for i in range(k) if i != removed]
        q = prob[np.ix_(keep, keep)]
        x = np.linalg.solve(np.eye(len(keep)) - q, prob[keep, k + 1])
        return float(prob[k, keep] @ x)

    base = p_conv(None)
    return base, np.array([1 - p_conv(c) / base for c in range(k)])


def monte_carlo(prob: np.ndarray, k: int, removed: int | None, walks: int, rng: np.random.Generator) -> float:
    """Share of seeded random walks from start that reach conversion; a removed channel leads to null."""
    cumulative = prob.cumsum(axis=1)
    state = np.full(walks, k)
    for _ in range(200):
        moving = state <= k
        if removed is not None:
            state[state == removed] = k + 2
            moving = state <= k
        if not moving.any():
            break
        u = rng.random(moving.sum())
        nxt = (u[:, None] > cumulative[state[moving]]).sum(axis=1)
        state[moving] = nxt
    return float((state == k + 1).mean())


def test_markov_matches_a_monte_carlo_walk_on_the_same_chain():
    # The hand example, then a random data set with five channels, cycles and null paths.
    rng = np.random.default_rng(20240301)
    channels = ["email", "mobile_app", "social", "store", "web"]
    rows, path_list = [], []
    for customer in range(400):
        steps = list(rng.choice(channels, size=rng.integers(1, 6)))
        converted = bool(rng.random() < 0.2 + 0.15 * ("web" in steps) + 0.2 * (steps[-1] == "store"))
        path_list.append((steps, converted))
        for i, channel in enumerate(steps):
            last = i == len(steps) - 1
            rows.append((f"c{customer:03d}", at(0, 60 * i), channel,
                         "purchase" if (last and converted) else "visit", f"o{customer}" if last else None))
    t = touches(rows)
    o = orders([(f"o{c}", 1 + c % 7) for c in range(400)])
    d = attribution_details(t, o)
    got = dict(d.removal_effects.select("channel", "removal_effect").iter_rows())

    prob = chain_from_paths(path_list, channels)
    base, exact = exact_by_removal(prob, len(channels))
    assert d.totals["conversion_probability"] == pytest.approx(base, abs=1e-12)
    assert [got[c] for c in channels] == pytest.approx(list(exact), abs=1e-12)

    walks = 40_000
    mc_base = monte_carlo(prob, len(channels), None, walks, np.random.default_rng(1))
    assert mc_base == pytest.approx(base, abs=0.02)
    for i, channel in enumerate(channels):
        mc = 1 - monte_carlo(prob, len(channels), i, walks, np.random.default_rng(2 + i)) / mc_base
        assert got[channel] == pytest.approx(mc, abs=0.04), channel

    # The hand example's chain walked at random too.
    hand = [(["email", "email", "web", "web"], True), (["social", "web"], True),
            (["email", "social"], False), (["web"], False)]
    prob = chain_from_paths(hand, ["email", "social", "web"])
    mc_base = monte_carlo(prob, 3, None, walks, np.random.default_rng(3))
    assert mc_base == pytest.approx(1 / 2, abs=0.02)
    mc_email = 1 - monte_carlo(prob, 3, 0, walks, np.random.default_rng(4)) / mc_base
    assert mc_email == pytest.approx(1 / 2, abs=0.04)


def test_markov_edge_cases():
    # A channel that never leads to a conversion (support only on a null path) gets zero, not an error.
    t = touches([("a", at(0), "web", "purchase", "o1"), ("b", at(0), "support", "support_contact")])
    d = attribution_details(t, orders([("o1", 9)]))
    r = table(d.attribution)
    assert r[("support", "markov")] == (0.0, 0.0)
    assert r[("web", "markov")] == pytest.approx((1.0, 9.0))
    # A single channel takes 100 %: RE = 1, Σ RE = 1.
    t1 = touches([("a", at(0), "web", "visit"), ("a", at(1), "web", "purchase", "o1"),
                  ("b", at(0), "web", "visit")])
    r1 = table(attribution_report(t1, orders([("o1", 5)])))
    assert r1 == {(("web", m)): ((1.0, 5.0)) for m in MODELS}
    # No conversion at all: Markov is 0 / 0 → null; the other models give 0; every channel has a row.
    t0 = touches([("a", at(0), "web", "visit"), ("a", at(1), "email", "email_open")])
    d0 = attribution_details(t0, NO_ORDERS)
    assert d0.attribution.height == 2 * len(MODELS)
    for (_, model), (conversions, value) in table(d0.attribution).items():
        assert (conversions, value) == ((None, None) if model == "markov" else (0.0, 0.0))
    assert d0.totals["conversion_probability"] is None


def test_empty_and_bad_input():
    empty = touches([])
    frame = attribution_report(empty, NO_ORDERS)
    assert frame.height == 0 and frame.columns == ["channel", "model", "conversions", "value"]
    assert conversion_paths(empty, NO_ORDERS).height == 0
    with pytest.raises(ValueError, match="missing: touch_seq"):
        attribution_report(HAND.drop("touch_seq"), HAND_ORDERS)
    with pytest.raises(ValueError, match="missing: revenue"):
        attribution_report(HAND, HAND_ORDERS.drop("revenue"))
    with pytest.raises(ValueError, match="lookback"):
        attribution_report(HAND, HAND_ORDERS, lookback_days=0)
    with pytest.raises(ValueError, match="half-life"):
        attribution_report(HAND, HAND_ORDERS, half_life_days=-1)
    with pytest.raises(ValueError, match="Position-based"):
        attribution_report(HAND, HAND_ORDERS, position_weights=(0.5, -0.1, 0.6))
    con = duckdb.connect()
    with pytest.raises(TypeError, match="same engine"):
        conversion_paths(con.sql("select 1 as x"), HAND_ORDERS)


def test_a_channel_on_no_path_gets_no_row_and_touch_seq_may_be_any_integers():
    # The social touch is 40 days before the only conversion: on no path, so no social row.
    t = touches([("a", at(0), "social", "impression"), ("a", at(40), "web", "purchase", "o1")])
    assert attribution_report(t, orders([("o1", 3)]))["channel"].unique().to_list() == ["web"]
    # touch_seq only orders: negative or huge numbers (beyond the one-integer sort key) give the same report.
    expected = attribution_report(HAND, HAND_ORDERS)
    for seq in (pl.col("touch_seq") - 10, pl.col("touch_seq") * 2**58):
        assert attribution_report(HAND.with_columns(touch_seq=seq), HAND_ORDERS).equals(expected)
    # A lazy frame in gives the same report as a data frame.
    assert attribution_report(HAND.lazy(), HAND_ORDERS.lazy()).equals(expected)


def test_rows_cover_every_channel_on_any_path_in_model_order():
    frame = attribution_report(MARKOV, MARKOV_ORDERS)
    assert frame["model"].unique(maintain_order=True).to_list() == list(MODELS)
    assert frame.filter(pl.col("model") == "first_touch")["channel"].to_list() == ["email", "social", "web"]


# --- properties ----------------------------------------------------------------------------------------------

CHANNELS = ["email", "mobile_app", "social", "store", "web"]
touch_rows = st.lists(
    st.tuples(
        st.integers(0, 5),  # customer
        st.integers(0, 90 * 86_400),  # seconds
        st.sampled_from(CHANNELS),
        st.booleans(),  # purchase?
        st.integers(0, 8),  # order number (8: none)
    ),
    max_size=40,
)


def frames_from(rows: list[tuple]) -> tuple[pl.DataFrame, pl.DataFrame]:
    t = pl.DataFrame(
        {
            "customer_id": [f"k{r[0]}" for r in rows],
            "timestamp": [at(0, r[1]) for r in rows],
            "channel": [r[2] for r in rows],
            "event_type": ["purchase" if r[3] else "visit" for r in rows],
            "order_id": [f"o{r[4]}" if r[3] and r[4] < 8 else None for r in rows],
        },
        schema={"customer_id": pl.String, "timestamp": pl.Datetime("us"), "channel": pl.String,
                "event_type": pl.String, "order_id": pl.String},
    )
    t = (
        t.with_row_index("_row").sort("customer_id", "timestamp", "_row")
        .with_columns(touch_seq=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("customer_id"))
        .drop("_row")
    )
    return t, orders([(f"o{i}", 10.0 * (i + 1)) for i in range(6)])


@settings(max_examples=60, deadline=None)
@given(touch_rows, st.randoms(use_true_random=False), st.sampled_from([1, 7, 30]))
def test_properties(rows, random, lookback):
    t, o = frames_from(rows)
    d = attribution_details(t, o, lookback_days=lookback)
    frame = d.attribution
    conversions, value = d.totals["conversions"], d.totals["value"]
    # Totals are the purchase touches, and each order's revenue at most once.
    assert conversions == t.filter(pl.col("event_type") == "purchase").height
    linked = t.filter(pl.col("order_id").is_in(o["order_id"].implode()))["order_id"].unique()
    assert value == pytest.approx(o.filter(pl.col("order_id").is_in(linked.implode()))["revenue"].sum())
    # Every channel on a path gets a row per model.
    paths = conversion_paths(t, o, lookback_days=lookback)
    assert frame.height == paths["channel"].n_unique() * len(MODELS)
    assert paths.select("customer_id", "touch_seq").is_unique().all()
    # A path belongs to one customer, and every customer with a touch has at most one null path.
    assert (paths.group_by("path_id").agg(pl.col("customer_id").n_unique())["customer_id"] == 1).all()
    nulls = paths.filter(~pl.col("converted")).group_by("customer_id").agg(pl.col("path_id").n_unique())
    assert (nulls["path_id"] == 1).all()
    assert paths.filter(pl.col("converted"))["path_id"].n_unique() == conversions
    for model in MODELS:
        part = frame.filter(pl.col("model") == model)
        if model == "markov" and conversions == 0:
            assert part["conversions"].null_count() == part.height
            continue
        assert (part["conversions"] >= 0).all() and (part["value"] >= 0).all()
        assert math.isclose(part["conversions"].sum(), conversions, abs_tol=1e-9)
        assert math.isclose(part["value"].sum(), value, rel_tol=1e-12, abs_tol=1e-9)
    # The order in which customers (and rows) arrive changes nothing.
    shuffled = t.sample(fraction=1.0, shuffle=True, seed=random.randint(0, 2**31))
    assert attribution_report(shuffled, o, lookback_days=lookback).equals(frame)
