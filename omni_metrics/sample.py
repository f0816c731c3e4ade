"""Deterministic synthetic omnichannel data: the canonical tables, and the messy exports a real shop would hand over."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from omni_metrics.schema import TABLES

# --- the fixed calendar -----------------------------------------------------------------------------------
# Two full years, so the churn model (horizon 90 days, validated at as_of − 2H) has room, and cohorts span
# eight quarters. Every table stays inside [START, END].
START = datetime(2024, 1, 1)
END = datetime(2025, 12, 31, 23, 59, 59)
SPAN_DAYS = (END.date() - START.date()).days + 1  # 731: 2024 is a leap year
_END_S = SPAN_DAYS * 86_400 - 1  # END in seconds since START

CHANNELS = ("web", "mobile_app", "store", "email", "social", "support")
WEB, APP, STORE, EMAIL, SOCIAL, SUPPORT = range(6)

EVENTS = (
    "impression", "visit", "email_open", "social_engagement", "ad_click", "store_visit", "product_view",
    "add_to_cart", "email_click", "wishlist", "checkout", "purchase", "cart_abandon", "support_contact",
    "complaint", "unsubscribe", "return_request",
)
_E = {e: i for i, e in enumerate(EVENTS)}

# Session kinds: what a visit on a channel amounts to. `hazard` is the chance the customer never comes back
# after a session of this kind (before the per-customer multiplier): an abandoned cart, an unanswered complaint
# or an unsubscribe make customers go quiet far more often than a purchase does — that is what the silent
# moments table and the churn model must find.
_KINDS: tuple[tuple[str, int | None, float, tuple[tuple[float, tuple[str, ...]], ...]], ...] = (
    # name, channel (None = web or app), hazard, variants (probability, event sequence)
    ("bounce", None, 0.02, ((1.0, ("visit",)),)),
    ("browse", None, 0.015, ((0.5, ("visit", "product_view")),
                            (0.3, ("visit", "product_view", "product_view")),
                            (0.2, ("visit", "product_view", "wishlist")))),
    ("abandon", None, 0.8, ((0.6, ("visit", "product_view", "add_to_cart", "cart_abandon")),
                             (0.4, ("visit", "product_view", "add_to_cart", "checkout", "cart_abandon")))),
    ("purchase", None, 0.01, ((0.7, ("visit", "product_view", "add_to_cart", "checkout", "purchase")),
                              (0.3, ("visit", "product_view", "product_view", "add_to_cart", "checkout",
                                     "purchase")))),
    ("store_visit", STORE, 0.015, ((1.0, ("store_visit",)),)),
    ("store_purchase", STORE, 0.01, ((1.0, ("store_visit", "purchase")),)),
    ("email_open", EMAIL, 0.01, ((1.0, ("email_open",)),)),
    ("email_click", EMAIL, 0.01, ((1.0, ("email_open", "email_click")),)),
    ("unsubscribe", EMAIL, 0.85, ((1.0, ("email_open", "unsubscribe")),)),
    ("social_engagement", SOCIAL, 0.015, ((1.0, ("social_engagement",)),)),
    ("social_ad", SOCIAL, 0.015, ((1.0, ("impression", "ad_click")),)),
    ("support_contact", SUPPORT, 0.6, ((1.0, ("support_contact",)),)),
    ("complaint", SUPPORT, 0.9, ((1.0, ("support_contact", "complaint")),)),
    # added after the simulation for returned orders, so its hazard is never used
    ("return_request", SUPPORT, 0.0, ((1.0, ("return_request",)),)),
)
_K = {k[0]: i for i, k in enumerate(_KINDS)}
_HAZARD = np.array([k[2] for k in _KINDS])
_PURCHASE_KINDS = (_K["purchase"], _K["store_purchase"])

_BLOCK = 100_000  # customers simulated at once

SEGMENTS = ("Premium", "Regular", "Bargain Hunter")
_SEGMENT_P = (0.15, 0.55, 0.30)
_SEGMENT_SPEND = np.array([1.6, 1.0, 0.7])
REGIONS = ("İstanbul", "Ankara", "İzmir", "Bursa", "Antalya", "Adana", "Konya", "Gaziantep", "Kocaeli",
           "Eskişehir", "Trabzon", "Diyarbakır")
_REGION_P = (0.34, 0.12, 0.10, 0.07, 0.07, 0.05, 0.05, 0.04, 0.05, 0.04, 0.03, 0.04)
TIERS = ("Bronze", "Silver", "Gold")

# Monthly demand: November (Black Friday, "Efsane Cuma") and December peak, summer dip.
_MONTH_WEIGHT = np.array([0.95, 0.85, 0.95, 1.0, 1.0, 0.9, 0.85, 0.85, 1.0, 1.05, 1.5, 1.3])
_CAMPAIGNS = {
    1: "Yılbaşı İndirimi", 2: "Sevgililer Günü", 3: "Bahar Koleksiyonu", 4: "Bahar Koleksiyonu",
    5: "Anneler Günü", 6: "Yaz İndirimi", 7: "Yaz İndirimi", 8: "Back to School", 9: "Back to School",
    10: "Sonbahar Koleksiyonu", 11: "Efsane Cuma", 12: "Yılbaşı Hediyeleri",
}

# Survey comments. Detractor comments read like real complaints; some are in Turkish.
# Survey comments per (band, where the experience happened): detractor comments read like real complaints,
# and a good share are in Turkish. Bands: 0 detractor, 1 passive, 2 promoter; places: online, store, support.
_COMMENTS: dict[tuple[int, int], tuple[str, ...]] = {
    (0, 0): (
        "Order arrived two weeks late and nobody answered my emails.",
        "The app crashed at checkout twice, I gave up.",
        "Product was damaged, \"quality check\" my foot.",
        "Prices went up, quality went down.",
        "Kargo çok geç geldi, müşteri hizmetlerine de ulaşamadım.",
        "Uygulama sepette sürekli hata veriyor.",
        "Ürün fotoğraftakinden çok farklı, kalitesi kötü.",
    ),
    (0, 1): (
        "Waited 20 minutes at the till, only one cashier open.",
        "Staff ignored me, could not find my size.",
        "Mağazadaki personel ilgisizdi, kasada 20 dakika bekledim.",
        "Online gördüğüm ürün mağazada yoktu.",
    ),
    (0, 2): (
        "Support kept me on hold for 40 minutes, then hung up.",
        "Returned the jacket a month ago, still no refund.",
        "Third time I write about the same problem. No answer.",
        "İade ettiğim ürünün parası hâlâ yatmadı.",
        "Şikayetime bir hafta oldu, hiçbir dönüş yapılmadı.",
    ),
    (1, 0): (
        "Fine, but delivery could be faster.",
        "Good products, the website is a bit slow.",
        "OK overall; sizes run small.",
        "Fiyatlar biraz yüksek ama ürünler güzel.",
        "Teslimat idare eder, paketleme daha iyi olabilir.",
    ),
    (1, 1): ("Nice store, but the fitting rooms were full.", "Mağaza güzel ama kasa kuyruğu uzundu."),
    (1, 2): ("Solved in the end, took a while.", "Sorun çözüldü ama biraz uzun sürdü."),
    (2, 0): (
        "Great service, will order again!",
        "Fast delivery and easy returns.",
        "Harika alışveriş deneyimi, teşekkürler!",
        "Hızlı kargo, ürünler çok kaliteli.",
    ),
    (2, 1): (
        "Love the new collection, staff in store were very helpful.",
        "Mağaza çalışanları çok yardımcı oldu.",
    ),
    (2, 2): ("The agent was friendly and fixed it in minutes.", "Temsilci çok ilgiliydi, hemen çözdü."),
}


def _day_weights() -> np.ndarray:
    """Demand per calendar day: month, weekend and Black Friday week."""
    days = pl.date_range(START.date(), END.date(), "1d", eager=True)
    month = days.dt.month().to_numpy()
    weekday = days.dt.weekday().to_numpy()  # 1 = Monday
    w = _MONTH_WEIGHT[month - 1] * np.where(weekday >= 6, 1.15, 1.0)
    black_friday = (month == 11) & (days.dt.day().to_numpy() >= 22) & (days.dt.day().to_numpy() <= 30)
    w = w * np.where(black_friday, 1.8, 1.0)
    return w / w.mean()


def _time_of_day(rng: np.random.Generator, channel: np.ndarray) -> np.ndarray:
    """Seconds after midnight: online peaks at lunch and in the evening, stores open 10:00–21:00."""
    online = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 2, 2.5, 3, 3.5, 4.5, 4.5, 3.5, 3.2, 3.2, 3.5, 4,
                       5, 6, 6.5, 5, 3], dtype=float)
    store = np.zeros(24)
    store[10:21] = (2, 3, 4, 5, 4, 4, 5, 6, 7, 6, 4)
    hours = np.where(
        channel == STORE,
        rng.choice(24, size=channel.size, p=store / store.sum()),
        rng.choice(24, size=channel.size, p=online / online.sum()),
    )
    return hours * 3600 + rng.integers(0, 3600, size=channel.size)


def _ids(numbers: np.ndarray, width: int) -> pl.Series:
    return pl.Series(numbers).cast(pl.String).str.zfill(width)


def _dates(days: np.ndarray) -> pl.Series:
    """Days since START → date."""
    return pl.Series(days.astype(np.int64) + (START.date() - date(1970, 1, 1)).days).cast(pl.Int32).cast(pl.Date)


def _timestamps(seconds: np.ndarray) -> pl.Series:
    """Seconds since START → naive datetime[us]."""
    us = (seconds.astype(np.int64) + int((START - datetime(1970, 1, 1)).total_seconds())) * 1_000_000
    return pl.Series(us).cast(pl.Datetime("us"))


def generate(customers: int = 2000, seed: int = 7) -> dict[str, pl.DataFrame]:
    """The five canonical tables of a synthetic omnichannel retailer, 2024-01-01 to 2025-12-31.

    Same (customers, seed) → identical frames. Vectorised: a million customers take about 40 s and 3.5 GB.
    """
    n = int(customers)
    if n < 1:
        raise ValueError("customers must be at least 1")
    rng = np.random.default_rng(seed)
    day_w = _day_weights()
    cum_w = np.concatenate([[0.0], np.cumsum(day_w)])  # "operational time" at each day boundary
    grid = np.arange(SPAN_DAYS + 1, dtype=float)

    # --- customers: latent traits ------------------------------------------------------------------------
    # Acquisition grows over the two years and follows the seasons.
    acq_w = day_w * (0.6 + 0.8 * np.arange(SPAN_DAYS) / SPAN_DAYS)
    cum_acq = np.concatenate([[0.0], np.cumsum(acq_w)])
    acq_day = np.interp(rng.random(n) * cum_acq[-1], cum_acq, grid)
    acq_day = np.minimum(acq_day, SPAN_DAYS - 1e-6)
    acq_op = np.interp(acq_day, grid, cum_w)

    segment = rng.choice(3, size=n, p=_SEGMENT_P)
    region = rng.choice(len(REGIONS), size=n, p=_REGION_P)
    satisfaction = rng.normal(0.0, 1.0, n)  # drives survey scores and, through the hazard, churn
    propensity = rng.lognormal(0.0, 0.45, n) * np.array([1.25, 1.0, 0.85])[segment]
    spend_level = rng.lognormal(0.0, 0.3, n) * _SEGMENT_SPEND[segment]

    # Channel preferences: a primary sales channel; omnichannel customers use a second (and maybe a third).
    primary = rng.choice(3, size=n, p=(0.45, 0.30, 0.25))
    omni = rng.random(n) < 0.4
    weights = np.zeros((n, 6))
    weights[np.arange(n), primary] = 1.0
    second = (primary + rng.integers(1, 3, n)) % 3
    weights[np.arange(n), second] += np.where(omni, 0.7, 0.0)
    third = 3 - primary - second
    weights[np.arange(n), third] += np.where(omni & (rng.random(n) < 0.35), 0.4, 0.0)
    subscribed = rng.random(n) < np.where(omni, 0.75, 0.5)
    weights[:, EMAIL] = np.where(subscribed, np.where(omni, 0.8, 0.45), 0.0)
    follower = rng.random(n) < np.where(omni, 0.45, 0.15)
    weights[:, SOCIAL] = np.where(follower, 0.35, 0.0)
    weights[:, SUPPORT] = 0.02
    cum_ch = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)

    # Omnichannel customers spend more and stay longer.
    spend_level *= np.where(omni, 1.25, 1.0)
    # Customers who neither read the newsletter nor follow the brand are the least attached.
    hazard_mult = (np.exp(-0.8 * satisfaction) * np.where(omni, 0.35, 1.0)
                   * np.where(subscribed | follower, 0.8, 1.5))

    # --- sessions: a Poisson process per customer in operational time, first one at acquisition ----------
    # Simulated in blocks of customers: sessions are drawn up to the end of the calendar and only then cut
    # at the customer's departure, so a block bounds the memory of the arrays that are mostly thrown away.
    def simulate(lo: int, hi: int) -> tuple[np.ndarray, ...]:
        m = hi - lo
        rate = rng.gamma(3.0, 1.0 / (3.0 * 14.0), m)  # sessions per (average) day: mean one every ~14 days
        extra = rng.poisson(rate * (cum_w[-1] - acq_op[lo:hi]))
        per_cust = extra + 1
        s_cust = np.repeat(np.arange(lo, hi), per_cust)
        s_op = np.repeat(acq_op[lo:hi], per_cust)
        is_first = np.ones(s_cust.size, dtype=bool)
        is_first[1:] = s_cust[1:] != s_cust[:-1]
        later = ~is_first
        s_op[later] += rng.random(int(later.sum())) * (cum_w[-1] - s_op[later])
        s_day = np.floor(np.minimum(np.interp(s_op, cum_w, grid), SPAN_DAYS - 1e-6)).astype(np.int64)

        u = rng.random(s_cust.size)
        s_chan = np.zeros(s_cust.size, dtype=np.int64)
        for j in range(5):
            s_chan += u >= cum_ch[s_cust, j]
        s_start = s_day * 86_400 + _time_of_day(rng, s_chan)
        s_start = np.minimum(s_start, _END_S - 3 * 3600)  # room for the session's own events

        order = np.lexsort((s_start, s_cust))
        s_cust, s_chan, s_start = s_cust[order], s_chan[order], s_start[order]

        # what each session amounts to
        u = rng.random(s_cust.size)
        p_buy = np.clip(0.32 * propensity[s_cust], 0.02, 0.6)
        online_kind = np.where(
            u < p_buy, _K["purchase"],
            np.where(u < p_buy + (1 - p_buy) * 0.3, _K["bounce"],
                     np.where(u < p_buy + (1 - p_buy) * 0.88, _K["browse"], _K["abandon"])))
        p_store = np.clip(0.55 * np.sqrt(propensity[s_cust]), 0.1, 0.9)
        kind = np.select(
            [s_chan <= APP, s_chan == STORE, s_chan == EMAIL, s_chan == SOCIAL],
            [online_kind,
             np.where(u < p_store, _K["store_purchase"], _K["store_visit"]),
             np.where(u < 0.6, _K["email_open"], np.where(u < 0.965, _K["email_click"], _K["unsubscribe"])),
             np.where(u < 0.55, _K["social_engagement"], _K["social_ad"])],
            np.where(u < 0.65, _K["support_contact"], _K["complaint"]),
        )
        s_buy = np.isin(kind, _PURCHASE_KINDS)
        # Order status is decided with the session: a returned order is itself a reason to leave.
        su = rng.random(s_cust.size)
        status = np.where(
            s_chan == STORE,
            np.select([su < 0.02, su < 0.06], [1, 2], 0),
            np.select([su < 0.04, su < 0.085, su < 0.10], [1, 2, 3], 0),
        )
        status = np.where(s_buy, status, -1)  # 0 completed, 1 cancelled, 2 returned, 3 refunded
        # Some orders go wrong (late, damaged, wrong item): the customer contacts support a few days later,
        # sometimes with a formal complaint, and often does not come back. This is the churn that recency
        # cannot see: the last order is recent, the customer is already gone.
        iu = rng.random(s_cust.size)
        issue = np.where(s_buy & (iu < 0.10), np.where(iu < 0.05, _K["complaint"], _K["support_contact"]), -1)

        # The customer leaves after a session with probability hazard(kind) × their multiplier; nothing follows.
        hazard = _HAZARD[kind] * hazard_mult[s_cust]
        hazard = np.where(status == 2, np.maximum(hazard, 0.6 * hazard_mult[s_cust]), hazard)
        hazard = np.where(issue >= 0, np.maximum(hazard, _HAZARD[issue] * hazard_mult[s_cust]), hazard)
        # Most first-time visitors who do not buy never come back.
        first_visit = np.r_[True, s_cust[1:] != s_cust[:-1]]
        hazard = np.where(first_visit & ~s_buy, hazard + 0.45, hazard)
        leaves = rng.random(s_cust.size) < np.minimum(hazard, 0.95)
        unsub = kind == _K["unsubscribe"]
        first_idx = np.flatnonzero(np.r_[True, s_cust[1:] != s_cust[:-1]])
        sizes = np.diff(np.r_[first_idx, s_cust.size])

        def before(flag: np.ndarray) -> np.ndarray:
            """How many earlier sessions of the same customer have the flag."""
            c = np.cumsum(flag) - flag
            return c - np.repeat(c[first_idx], sizes)

        # No session after leaving; no email after unsubscribing.
        keep = (before(leaves) == 0) & ~((s_chan == EMAIL) & (before(unsub) > 0))
        return tuple(a[keep] for a in (s_cust, s_chan, s_start, kind, status, issue))

    blocks = [simulate(lo, min(lo + _BLOCK, n)) for lo in range(0, n, _BLOCK)]
    s_cust, s_chan, s_start, kind, status, issue = (np.concatenate([b[i] for b in blocks]) for i in range(6))
    del blocks
    n_sess = s_cust.size

    # Follow-ups: a return request 2–10 days after a returned order, where it was bought (online form or
    # store desk); a call to support, or a complaint (half of them at the channel of the order), 1–5 days
    # after an order that went wrong. Each is a session of its own.
    ret = np.flatnonzero(status == 2)
    iss = np.flatnonzero(issue >= 0)
    src = np.concatenate([ret, iss])
    f_kind = np.concatenate([np.full(ret.size, _K["return_request"]), issue[iss]])
    f_start = s_start[src] + np.concatenate([rng.integers(2 * 86_400, 10 * 86_400, ret.size),
                                             rng.integers(86_400, 5 * 86_400, iss.size)])
    ok = f_start <= _END_S - 3 * 3600
    src, f_kind, f_start = src[ok], f_kind[ok], f_start[ok]
    s_cust = np.concatenate([s_cust, s_cust[src]])
    at_order_channel = (f_kind == _K["return_request"]) | ((f_kind == _K["complaint"]) & (rng.random(src.size) < 0.5))
    s_chan = np.concatenate([s_chan, np.where(at_order_channel, s_chan[src], SUPPORT)])
    s_start = np.concatenate([s_start, f_start])
    kind = np.concatenate([kind, f_kind])
    status = np.concatenate([status, np.full(src.size, -1)])
    del issue
    n_sess = s_cust.size

    # --- events of each session -----------------------------------------------------------------------------
    variants = [(k, p, ev) for k, spec in enumerate(_KINDS) for p, ev in spec[3]]
    t_kind = np.array([v[0] for v in variants])
    t_len = np.array([len(v[2]) for v in variants])
    t_events = np.full((len(variants), t_len.max()), -1, dtype=np.int8)
    for i, (_, _, ev) in enumerate(variants):
        t_events[i, : len(ev)] = [_E[e] for e in ev]
    # pick a variant within the kind: cumulative probabilities per kind, padded
    max_var = max(len(k[3]) for k in _KINDS)
    cum_var = np.full((len(_KINDS), max_var), 2.0)
    first_var = np.zeros(len(_KINDS), dtype=np.int64)
    for k, spec in enumerate(_KINDS):
        first_var[k] = int(np.flatnonzero(t_kind == k)[0])
        cum_var[k, : len(spec[3]) - 1] = np.cumsum([p for p, _ in spec[3]])[:-1]
    vu = rng.random(n_sess)
    tmpl = first_var[kind] + (vu[:, None] >= cum_var[kind]).sum(axis=1)
    del vu

    # Events are described by their session, code and time only; every other column is looked up per
    # session when the frame is built, which keeps a million customers within a few GB.
    ev_len = t_len[tmpl]
    e_sess = np.repeat(np.arange(n_sess, dtype=np.int32), ev_len)
    e_offsets = np.cumsum(ev_len) - ev_len
    e_pos = np.arange(e_sess.size) - e_offsets[e_sess]
    e_code = t_events[tmpl[e_sess], e_pos]
    # Seconds between the events of a session: a minute or so online, longer in a store.
    mean_gap = np.array([70.0, 55.0, 900.0, 40.0, 30.0, 300.0])[s_chan[e_sess]]
    gap = np.where(e_pos == 0, 0, np.minimum(np.ceil(rng.exponential(1.0, e_sess.size) * mean_gap) + 3, 1800))
    del mean_gap, e_pos
    gap = gap.astype(np.int64)
    cg = np.cumsum(gap)
    e_ts = s_start[e_sess] + cg - (cg[e_offsets] - gap[e_offsets])[e_sess]
    del gap, cg, e_offsets
    # The POS records minutes only.
    e_ts = np.where(s_chan[e_sess] == STORE, e_ts // 60 * 60, e_ts)

    # --- orders: one per purchase session -----------------------------------------------------------------
    is_purchase_ev = e_code == _E["purchase"]
    o_sess = e_sess[is_purchase_ev]
    o_ts = e_ts[is_purchase_ev]
    del is_purchase_ev
    o_cust = s_cust[o_sess]
    o_chan = s_chan[o_sess]
    o_status = status[o_sess]
    o_order = np.lexsort((o_cust, o_ts))
    o_sess, o_ts, o_cust, o_chan, o_status = (a[o_order] for a in (o_sess, o_ts, o_cust, o_chan, o_status))
    n_orders = o_sess.size
    base_aov = np.array([780.0, 640.0, 1050.0, 0, 0, 0])[o_chan]
    sigma = np.array([0.55, 0.5, 0.7, 0, 0, 0])[o_chan]
    season = 1.0 + 0.15 * (_MONTH_WEIGHT[_month_index(o_ts) % 12] - 1.0)  # bigger baskets in peak months
    revenue = np.round(base_aov * spend_level[o_cust] * season * rng.lognormal(-sigma**2 / 2, sigma), 2)
    revenue = np.maximum(revenue, 19.9)
    margin = np.round(revenue * rng.uniform(0.18, 0.42, n_orders), 2)
    order_no = np.arange(1, n_orders + 1)
    # web and app orders share the shop's zero-padded numbering; the POS has its own receipt numbers
    width = max(8, len(str(n_orders)) + 1)
    order_id = pl.select(
        pl.when(pl.lit(o_chan == STORE))
        .then(pl.concat_str(pl.lit("MGZ-"), pl.lit(order_no).cast(pl.String).str.zfill(width)))
        .otherwise(pl.lit(order_no).cast(pl.String).str.zfill(width))
    ).to_series()
    sess_order = np.full(n_sess, -1)
    sess_order[o_sess] = np.arange(n_orders)

    # --- interactions frame ---------------------------------------------------------------------------------
    cust_width = max(6, len(str(n)))
    cust_ids = _ids(np.arange(1, n + 1), cust_width)
    campaign_names = pl.Series([_campaign(i) for i in range(24)])
    # email and paid-social touches always belong to a campaign; a quarter of web/app sessions carry a utm tag
    has_campaign = (s_chan == EMAIL) | (kind == _K["social_ad"]) | ((s_chan <= APP) & (rng.random(n_sess) < 0.25))
    s_campaign = np.where(has_campaign, _month_index(s_start), -1)
    # web and app sessions have ids (numbered in session order); store, email, social and support touches not
    s_number = np.where(s_chan <= APP, np.arange(n_sess), -1)
    sess_width = max(9, len(str(n_sess)) + 1)

    # time order; a customer's touches at one moment stay in session order (lexsort is stable)
    io = np.lexsort((s_cust[e_sess], e_ts))
    e_sess, e_code, e_ts = e_sess[io], e_code[io], e_ts[io]
    del io
    interactions = pl.DataFrame({"customer_id": cust_ids.gather(s_cust[e_sess])})
    interactions = interactions.with_columns(
        timestamp=_timestamps(e_ts),
        channel=pl.Series(CHANNELS).gather(s_chan[e_sess]),
        event_type=pl.Series(EVENTS).gather(e_code),
    )
    del e_ts
    interactions = interactions.with_columns(session_id=_nullable_ids("S", s_number[e_sess], sess_width))
    interactions = interactions.with_columns(campaign=campaign_names.gather(_opt(s_campaign[e_sess])))
    e_order = np.where(e_code == _E["purchase"], sess_order[e_sess], -1)
    interactions = interactions.with_columns(order_id=order_id.gather(_opt(e_order)))
    del e_order, e_sess, e_code

    orders = pl.DataFrame({
        "order_id": order_id,
        "customer_id": cust_ids.gather(o_cust),
        "timestamp": _timestamps(o_ts),
        "channel": pl.Series(CHANNELS).gather(o_chan),
        "revenue": revenue,
        "status": pl.Series(("completed", "cancelled", "returned", "refunded")).gather(o_status),
        # The POS export carries no margin.
        "margin": pl.Series(np.where(o_chan == STORE, np.nan, margin)).fill_nan(None),
    })

    surveys = _surveys(rng, s_cust, s_chan, s_start, kind, status, satisfaction, cust_ids)
    spend = _spend(rng, n, day_w)

    tier = np.select([spend_level * propensity > 1.6, spend_level * propensity > 0.9], [2, 1], 0)
    signup_day = np.floor(acq_day).astype(np.int64)
    customers_frame = pl.DataFrame({
        "customer_id": cust_ids,
        "segment": pl.Series(SEGMENTS).gather(segment),
        "region": pl.Series(REGIONS).gather(region),
        "signup_date": _dates(signup_day),
        "loyalty_tier": pl.Series(TIERS).gather(tier),
    })

    tables = {
        "interactions": interactions,
        "orders": orders,
        "surveys": surveys,
        "spend": spend,
        "customers": customers_frame,
    }
    return {name: frame.cast(_dtypes(name, frame)) for name, frame in tables.items()}


def _dtypes(name: str, frame: pl.DataFrame) -> dict[str, pl.DataType]:
    canonical = TABLES[name].dtypes
    return {c: canonical.get(c, pl.String) for c in frame.columns}


def _month_index(seconds: np.ndarray) -> np.ndarray:
    """0 for 2024-01 … 23 for 2025-12."""
    days = (np.asarray(seconds) // 86_400).astype("timedelta64[D]") + np.datetime64("2024-01-01")
    months = days.astype("datetime64[M]").astype(np.int64) - np.datetime64("2024-01", "M").astype(np.int64)
    return months


def _campaign(month_index: int) -> str:
    year, month = 2024 + month_index // 12, month_index % 12 + 1
    return f"{_CAMPAIGNS[month]} {year}"


def _opt(index: np.ndarray) -> pl.Series:
    """Row indexes for `gather`, negative ones → null."""
    frame = pl.DataFrame({"i": np.asarray(index, dtype=np.int64)})
    return frame.select(pl.when(pl.col("i") >= 0).then(pl.col("i"))).to_series()


def _nullable_ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    s = _opt(np.where(numbers < 0, -1, numbers + 1))
    return pl.select(pl.concat_str(pl.lit(prefix), pl.lit(s).cast(pl.String).str.zfill(width))).to_series()


def _surveys(rng, s_cust, s_chan, s_start, kind, status, satisfaction, cust_ids) -> pl.DataFrame:
    """NPS after purchases, CSAT after support contacts and some store visits; scores follow experience."""
    n_sess = s_cust.size
    u = rng.random(n_sess)
    is_buy = np.isin(kind, _PURCHASE_KINDS)
    is_support = s_chan == SUPPORT
    take_nps = is_buy & (u < 0.15)
    take_csat = (is_support & (u < 0.4)) | ((kind == _K["store_visit"]) & (u < 0.05))
    take = take_nps | take_csat
    idx = np.flatnonzero(take)
    m = idx.size
    # answered one to three days later, at the hours people read their email; the tool records minutes
    day = s_start[idx] // 86_400 + rng.integers(1, 4, m)
    ts = (day * 86_400 + _time_of_day(rng, np.zeros(m, dtype=np.int64))) // 60 * 60
    cust = s_cust[idx]
    # what happened in that session: complaints and returns hurt, a plain purchase does not
    effect = np.select(
        [kind[idx] == _K["complaint"], kind[idx] == _K["support_contact"], kind[idx] == _K["return_request"],
         status[idx] == 2, status[idx] == 1],
        [-4.5, -2.0, -1.5, -3.0, -1.5], 0.0)
    noise = rng.normal(0.0, 1.0, m)
    nps = np.clip(np.round(8.0 + 1.7 * satisfaction[cust] + effect + 1.3 * noise), 0, 10)
    csat = np.clip(np.round(4.2 + 0.8 * satisfaction[cust] + effect / 2.5 + 0.7 * noise), 1, 5)
    is_nps = take_nps[idx]
    score = np.where(is_nps, nps, csat).astype(np.int64)
    anonymous = rng.random(m) < 0.05
    # comments: detractors say more, and say it angrily
    band = np.where(is_nps, np.select([score <= 6, score <= 8], [0, 1], 2),
                    np.select([score <= 2, score <= 3], [0, 1], 2))
    has_comment = rng.random(m) < np.array([0.6, 0.25, 0.3])[band]
    place = np.select([s_chan[idx] == STORE, s_chan[idx] == SUPPORT], [1, 2], 0)
    pools = [_COMMENTS[(b, p)] for b in range(3) for p in range(3)]
    pool = band * 3 + place
    pick = rng.integers(0, 1 << 30, m)
    offset = np.cumsum([0] + [len(p) for p in pools])[:-1]
    sizes = np.array([len(p) for p in pools])
    comment_idx = np.where(has_comment, offset[pool] + pick % sizes[pool], -1)
    all_comments = pl.Series([c for p in pools for c in p])
    keep = ts <= _END_S
    order = np.lexsort((np.arange(m), cust, ts))
    order = order[keep[order]]
    return pl.DataFrame({
        "timestamp": _timestamps(ts[order]),
        "score": score[order],
        "survey_type": pl.Series(np.where(is_nps, "nps", "csat")[order]),
        "customer_id": cust_ids.gather(_opt(np.where(anonymous, -1, cust)[order])),
        "channel": pl.Series(CHANNELS).gather(s_chan[idx][order]),
        "comment": all_comments.gather(_opt(comment_idx[order])),
    })


# Paid media: (channel, campaign, share of the budget, cost per thousand impressions, click-through rate)
_MEDIA = (
    (SOCIAL, "Meta Ads", 0.30, 45.0, 0.012),
    (SOCIAL, "TikTok Ads", 0.12, 30.0, 0.008),
    (WEB, "Google Search", 0.30, 120.0, 0.045),
    (WEB, "Google Display", 0.10, 15.0, 0.004),
    (EMAIL, "Newsletter", 0.06, 2.0, 0.02),
    (APP, "App Install Ads", 0.12, 60.0, 0.01),
)


def _spend(rng: np.random.Generator, customers: int, day_w: np.ndarray) -> pl.DataFrame:
    """Daily spend per paid channel and campaign, scaled to the size of the customer base."""
    budget = 420.0 * customers / 2000  # per average day, all media
    rows = len(_MEDIA) * SPAN_DAYS
    day = np.repeat(np.arange(SPAN_DAYS), len(_MEDIA))
    media = np.tile(np.arange(len(_MEDIA)), SPAN_DAYS)
    share = np.array([m[2] for m in _MEDIA])[media]
    cpm = np.array([m[3] for m in _MEDIA])[media]
    ctr = np.array([m[4] for m in _MEDIA])[media]
    spend = np.round(budget * share * day_w[day] * rng.lognormal(-0.02, 0.2, rows), 2)
    impressions = np.round(spend / cpm * 1000 * rng.lognormal(0, 0.1, rows))
    clicks = np.round(impressions * ctr * rng.lognormal(0, 0.15, rows))
    return pl.DataFrame({
        "date": _dates(day),
        "channel": pl.Series(CHANNELS).gather(np.array([m[0] for m in _MEDIA])[media]),
        "spend": spend,
        "campaign": pl.Series([m[1] for m in _MEDIA]).gather(media),
        "impressions": impressions,
        "clicks": clicks,
    })


def write_exports(tables: dict[str, pl.DataFrame], out_dir: str | Path, messy: bool = True) -> list[Path]:
    """Write the tables as CSV files and return their paths.

    messy=True imitates the exports of the tools a retailer really has (web shop, Turkish POS, analytics,
    email tool, help desk, CRM, survey tool, ad accounts): different headers, delimiters, encodings, date and
    number formats, all of them readable per DATA.md. messy=False writes one plain UTF-8 CSV per table with
    canonical headers. The bytes depend only on the tables: fixed formats, rows in table order, `\n` endings.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    # one file at a time, so only one export is in memory
    for name, data in (_messy_files(tables) if messy else _plain_files(tables)):
        path = out / name
        path.write_bytes(data)
        written.append(path)
    return written


def _plain_files(tables: dict[str, pl.DataFrame]) -> Iterator[tuple[str, bytes]]:
    for name, frame in tables.items():
        yield f"{name}.csv", _csv(frame)


def _csv(frame: pl.DataFrame, separator: str = ",") -> bytes:
    """UTF-8 CSV bytes with fixed formats."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, separator=separator, datetime_format="%Y-%m-%dT%H:%M:%S", date_format="%Y-%m-%d",
                    float_precision=2, line_terminator="\n")
    return buffer.getvalue()


def _labels(column: str, labels: dict[str, str]) -> pl.Expr:
    return pl.col(column).replace_strict(labels, default=pl.col(column))


def _title(column: str) -> pl.Expr:
    """`add_to_cart` → `Add To Cart`, as event names appear in tools' exports."""
    return pl.col(column).str.replace_all("_", " ").str.to_titlecase()


def _money(column: str, decimal_comma: bool = False) -> pl.Expr:
    """Two decimals; with decimal_comma the Turkish way, `1.234,56`."""
    if not decimal_comma:
        return pl.col(column).round(2)
    cents = (pl.col(column) * 100).round().cast(pl.Int64)
    whole = cents // 100
    frac = (cents % 100).cast(pl.String).str.zfill(2)
    millions, thousands, units = whole // 1_000_000, (whole // 1000) % 1000, whole % 1000
    grouped = (
        pl.when(whole >= 1_000_000)
        .then(pl.concat_str(millions.cast(pl.String), pl.lit("."), thousands.cast(pl.String).str.zfill(3),
                            pl.lit("."), units.cast(pl.String).str.zfill(3)))
        .when(whole >= 1000)
        .then(pl.concat_str(thousands.cast(pl.String), pl.lit("."), units.cast(pl.String).str.zfill(3)))
        .otherwise(units.cast(pl.String))
    )
    return pl.concat_str(grouped, pl.lit(","), frac)


def _messy_files(tables: dict[str, pl.DataFrame]) -> Iterator[tuple[str, bytes]]:
    bom = "\ufeff".encode()

    if "orders" in tables:
        orders = tables["orders"]
        # The web shop: English headers, ISO-like dates, decimal point, margin included.
        web = orders.filter(pl.col("channel") != "store").select(
            pl.col("order_id").alias("Order Number"),
            pl.col("customer_id").alias("Customer ID"),
            pl.col("timestamp").dt.strftime("%Y-%m-%d %H:%M:%S").alias("Order Date"),
            _labels("channel", {"web": "Website", "mobile_app": "Mobile App"}).alias("Sales Channel"),
            _money("revenue").alias("Order Total"),
            pl.col("status").str.to_titlecase().alias("Order Status"),
            _money("margin").alias("Gross Margin"),
        )
        yield ("web_shop_orders.csv", _csv(web))
        # The Turkish POS: `;`, decimal comma with thousands dots, Windows-1254, minutes only, no margin.
        pos = orders.filter(pl.col("channel") == "store").select(
            pl.col("order_id").alias("Sipariş No"),
            pl.col("customer_id").alias("Müşteri No"),
            pl.col("timestamp").dt.strftime("%d.%m.%Y %H:%M").alias("Tarih"),
            pl.lit("Mağaza").alias("Kanal"),
            _money("revenue", decimal_comma=True).alias("Tutar"),
            _labels("status", {"completed": "Tamamlandı", "cancelled": "İptal Edildi",
                               "returned": "İade Edildi", "refunded": "İade Edildi"}).alias("Durum"),
        )
        yield ("store_pos_orders.csv", _csv(pos, ";").decode("utf-8").encode("cp1254"))

    if "interactions" in tables:
        touches = tables["interactions"]
        # Product analytics: epoch milliseconds, platform names, title-cased event names.
        odd_customer = pl.col("customer_id").str.slice(-1).cast(pl.Int64, strict=False).fill_null(0) % 2 == 1
        events = touches.filter(pl.col("channel").is_in(["web", "mobile_app", "social"])).select(
            pl.col("timestamp").dt.epoch("ms").alias("event_time"),
            pl.col("customer_id").alias("user_id"),
            pl.when(pl.col("channel") == "web").then(pl.lit("Web"))
            .when(pl.col("channel") == "mobile_app").then(pl.when(odd_customer).then(pl.lit("iOS"))
                                                          .otherwise(pl.lit("Android")))
            .when(pl.col("channel") == "social").then(pl.when(odd_customer).then(pl.lit("Instagram"))
                                                      .otherwise(pl.lit("Facebook")))
            .otherwise(pl.col("channel")).alias("platform"),
            _title("event_type").alias("event_name"),
            "session_id",
            pl.col("campaign").alias("utm_campaign"),
            "order_id",
        )
        yield ("app_and_web_events.csv", _csv(events))
        # Loyalty-card scans in the stores: Excel export with a BOM, day-first dates, minutes only.
        store = touches.filter(pl.col("channel") == "store").select(
            pl.col("customer_id").alias("Customer No"),
            pl.col("timestamp").dt.strftime("%d/%m/%Y %H:%M").alias("Date Time"),
            pl.lit("In-Store").alias("Channel"),
            _title("event_type").alias("Event"),
            pl.col("order_id").alias("Receipt ID"),
        )
        yield ("store_visits.csv", bom + _csv(store))
        # The email tool: UTC timestamps with `Z`, gzipped.
        email = touches.filter(pl.col("channel") == "email").select(
            pl.col("customer_id").alias("Contact ID"),
            pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("Timestamp"),
            pl.lit("Newsletter").alias("Channel"),
            _title("event_type").alias("Activity"),
            pl.col("campaign").alias("Campaign Name"),
        )
        yield ("email_activity.csv.gz", gzip.compress(_csv(email), mtime=0))
        # The help desk.
        support = touches.filter(pl.col("channel") == "support").select(
            pl.col("timestamp").dt.strftime("%Y-%m-%d %H:%M:%S").alias("Created At"),
            pl.col("customer_id").alias("Customer"),
            pl.lit("Call Center").alias("Channel"),
            _title("event_type").alias("Interaction Type"),
        )
        yield ("support_tickets.csv", _csv(support))
        other = touches.filter(~pl.col("channel").is_in(["web", "mobile_app", "social", "store", "email",
                                                           "support"]))
        if other.height:
            yield ("other_interactions.csv", _csv(other))

    if "customers" in tables:
        customers = tables["customers"]
        canonical = set(TABLES["customers"].dtypes)
        crm = customers.select(
            pl.col("customer_id").alias("Customer ID"),
            pl.col("segment").alias("Segment"),
            pl.col("region").alias("City"),
            pl.col("signup_date").dt.strftime("%d.%m.%Y").alias("Registration Date"),
            *[c for c in customers.columns if c not in canonical],  # extra attributes keep their names
        )
        yield ("crm_customers.csv", bom + _csv(crm))

    if "surveys" in tables:
        surveys = tables["surveys"].select(
            pl.col("timestamp").dt.strftime("%Y-%m-%d %H:%M").alias("Response Date"),
            pl.col("customer_id").alias("Customer ID"),
            pl.col("survey_type").str.to_uppercase().alias("Survey"),
            pl.col("score").alias("Score"),
            _labels("channel", {"web": "Web", "mobile_app": "Mobile App", "store": "Store", "email": "Email",
                                "social": "Social", "support": "Support"}).alias("Touchpoint"),
            pl.col("comment").alias("Comment"),
        )
        yield ("survey_responses.csv", _csv(surveys))

    if "spend" in tables:
        spend = tables["spend"].select(
            pl.col("date").dt.strftime("%Y-%m-%d").alias("Date"),
            _labels("channel", {"web": "Online", "mobile_app": "App", "email": "E-mail",
                                "social": "Sosyal Medya"}).alias("Channel"),
            pl.col("campaign").alias("Campaign"),
            _money("spend").alias("Spend"),
            pl.col("impressions").round().cast(pl.Int64).alias("Impressions"),
            pl.col("clicks").round().cast(pl.Int64).alias("Clicks"),
        )
        yield ("marketing_spend.csv", _csv(spend))
