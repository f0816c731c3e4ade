"""The synthetic sample: deterministic, canonical, and shaped like a real omnichannel business."""

from __future__ import annotations

import gzip
import re
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from omni_metrics.sample import CHANNELS, END, START, generate, write_exports
from omni_metrics.schema import EVENT_TYPES, SILENCE_SIGNALS, TABLES, header_key


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return generate(customers=2000, seed=7)


def test_generate_is_deterministic(tables):
    again = generate(customers=2000, seed=7)
    assert list(again) == list(tables)
    for name in tables:
        assert_frame_equal(again[name], tables[name])
    other = generate(customers=2000, seed=8)
    assert not other["orders"].equals(tables["orders"])


def test_columns_and_dtypes_are_canonical(tables):
    assert set(tables) == set(TABLES)
    for name, frame in tables.items():
        canonical = TABLES[name].dtypes
        assert dict(frame.schema.items()) | canonical == dict(frame.schema.items()), name
        if name == "customers":
            assert frame.columns[: len(canonical)] == list(canonical)
            extra = {c: t for c, t in frame.schema.items() if c not in canonical}
            assert extra and all(t == pl.String for t in extra.values())
        else:
            assert frame.columns == list(canonical), name


def test_invariants(tables):
    touches, orders, surveys = tables["interactions"], tables["orders"], tables["surveys"]
    assert orders["order_id"].is_unique().all()
    purchases = touches.filter(pl.col("event_type") == "purchase")
    # every purchase touch carries the id of an existing order, and every order has exactly one
    assert purchases["order_id"].null_count() == 0
    assert purchases["order_id"].is_in(orders["order_id"].implode()).all()
    assert sorted(purchases["order_id"].to_list()) == sorted(orders["order_id"].to_list())
    assert touches.filter(pl.col("event_type") != "purchase")["order_id"].null_count() == touches.height - \
        purchases.height
    nps = surveys.filter(pl.col("survey_type") == "nps")["score"]
    csat = surveys.filter(pl.col("survey_type") == "csat")["score"]
    assert nps.min() >= 0 and nps.max() <= 10 and csat.min() >= 1 and csat.max() <= 5
    assert set(surveys["survey_type"]) == {"nps", "csat"}
    for name, col in (("interactions", "timestamp"), ("orders", "timestamp"), ("surveys", "timestamp")):
        ts = tables[name][col]
        assert ts.min() >= START and ts.max() <= END, name
    for name, col in (("spend", "date"), ("customers", "signup_date")):
        d = tables[name][col]
        assert d.min() >= START.date() and d.max() <= END.date(), name
    assert set(touches["channel"]) == set(CHANNELS)
    assert set(touches["event_type"]) <= set(EVENT_TYPES)
    assert set(touches["event_type"]) >= {"cart_abandon", "complaint", "support_contact", "unsubscribe",
                                          "return_request"}
    assert (orders["revenue"] > 0).all()
    assert set(orders["status"]) == {"completed", "cancelled", "returned", "refunded"}
    # ids are strings, some with leading zeros; every customer is in the CRM table
    assert tables["customers"]["customer_id"].str.starts_with("0").any()
    assert touches["customer_id"].is_in(tables["customers"]["customer_id"].implode()).all()
    # web/app touches carry a session id, the others do not
    online = pl.col("channel").is_in(["web", "mobile_app"])
    assert touches.filter(online)["session_id"].null_count() == 0
    assert touches.filter(~online)["session_id"].null_count() == touches.filter(~online).height
    # surveys: a few anonymous, comments on some
    assert 0 < surveys["customer_id"].null_count() < 0.1 * surveys.height
    assert 0 < surveys["comment"].null_count() < surveys.height
    assert 5 <= touches.height / tables["customers"].height <= 25


def test_funnels_narrow(tables):
    web = tables["interactions"].filter(pl.col("channel") == "web")
    counts = {e: web.filter(pl.col("event_type") == e).height
              for e in ("visit", "product_view", "add_to_cart", "checkout", "purchase")}
    reached = [web.filter(pl.col("event_type") == e)["session_id"].n_unique()
               for e in ("visit", "product_view", "add_to_cart", "checkout", "purchase")]
    assert reached == sorted(reached, reverse=True) and reached[-1] > 0, counts


def _customer_facts(tables) -> pl.DataFrame:
    """Per customer: channels used, completed revenue, last touch, days silent at the end of the calendar."""
    touches, orders = tables["interactions"], tables["orders"]
    completed = orders.filter(pl.col("status") == "completed")
    channels = pl.concat([touches.select("customer_id", "channel"), completed.select("customer_id", "channel")])
    last = touches.sort("timestamp", "customer_id").group_by("customer_id").agg(
        pl.col("event_type").last().alias("last_event"), pl.col("timestamp").max().alias("last_touch"))
    return (
        channels.group_by("customer_id").agg(pl.col("channel").n_unique().alias("n_channels"))
        .join(completed.group_by("customer_id").agg(pl.col("revenue").sum()), on="customer_id", how="left")
        .join(last, on="customer_id", how="left")
        .with_columns(days_silent=(pl.lit(END) - pl.col("last_touch")).dt.total_days())
    )


def test_omnichannel_customers_spend_more(tables):
    facts = _customer_facts(tables).filter(pl.col("revenue").is_not_null())
    by_mix = facts.group_by(pl.col("n_channels") >= 2).agg(pl.col("revenue").mean()).sort("n_channels")
    single, omni = by_mix["revenue"].to_list()
    assert omni > 1.3 * single


def test_omnichannel_customers_churn_less(tables):
    # churn label of METRICS.md §6 at c = END − 90 days, channels counted from touches and orders up to c
    cutoff = END - timedelta(days=90)
    touches = tables["interactions"].filter(pl.col("timestamp") <= cutoff)
    orders = tables["orders"].filter(pl.col("status") == "completed")
    before = orders.filter(pl.col("timestamp") <= cutoff)
    kept = orders.filter(pl.col("timestamp") > cutoff)["customer_id"].unique().implode()
    channels = pl.concat([touches.select("customer_id", "channel"), before.select("customer_id", "channel")])
    mix = (channels.group_by("customer_id").agg(pl.col("channel").n_unique().alias("n_channels"))
           .filter(pl.col("customer_id").is_in(before["customer_id"].unique().implode()))
           .with_columns(churned=~pl.col("customer_id").is_in(kept)))
    rates = mix.group_by(pl.col("n_channels") >= 2).agg(pl.col("churned").mean(), pl.len()).sort("n_channels")
    single, omni = rates["churned"].to_list()
    assert rates["len"].min() >= 100
    assert omni < single - 0.05, rates


def test_customers_go_quiet_after_silence_signals(tables):
    # The silent-moments table groups customers by their last touch: after a cart abandon, complaint, support
    # contact, unsubscribe or return request far more customers have been quiet for 90+ days than after
    # any other last touch.
    facts = _customer_facts(tables).filter(pl.col("last_event").is_not_null())
    signal = pl.col("last_event").is_in(SILENCE_SIGNALS)
    quiet = (pl.col("days_silent") >= 90).cast(pl.Float64)
    share = facts.group_by(signal.alias("signal")).agg(quiet.mean().alias("quiet"), pl.len()).sort("signal")
    after_other, after_signal = share["quiet"].to_list()
    assert share["len"].min() > 100
    assert after_signal > after_other + 0.15, share


def test_silence_signals_raise_churn_beyond_recency(tables):
    # The churn label of METRICS.md §6 at the validation cutoff c = END − 90 days: buyers with no completed
    # order in (c, c + 90d]. Among buyers equally recent (a touch in the 30 days before c), those with a
    # silence signal in those 30 days churn far more often: recency alone cannot tell them apart.
    touches, surveys = tables["interactions"], tables["surveys"]
    orders = tables["orders"].filter(pl.col("status") == "completed")
    cutoff = END - timedelta(days=90)
    buyers = orders.filter(pl.col("timestamp") <= cutoff).select("customer_id").unique()
    recent = touches.filter(pl.col("timestamp").is_between(cutoff - timedelta(days=30), cutoff, "right"))
    signals = recent.group_by("customer_id").agg(pl.col("event_type").is_in(SILENCE_SIGNALS).any().alias("signal"))
    kept = orders.filter(pl.col("timestamp") > cutoff).select("customer_id").unique()
    labelled = buyers.join(signals, on="customer_id").with_columns(
        churned=~pl.col("customer_id").is_in(kept["customer_id"].implode()))
    rates = labelled.group_by("signal").agg(pl.col("churned").mean(), pl.len()).sort("signal")
    without, with_signal = rates["churned"].to_list()
    assert rates["len"].min() >= 30
    assert with_signal > without + 0.2, rates
    # low NPS goes with churn too: detractors (last NPS ≤ 6 before c) churn more than the others
    last_nps = (surveys.filter(pl.col("timestamp") <= cutoff, pl.col("survey_type") == "nps")
                .sort("timestamp").group_by("customer_id").agg(pl.col("score").last()))
    with_nps = buyers.join(last_nps, on="customer_id").with_columns(
        churned=~pl.col("customer_id").is_in(kept["customer_id"].implode()))
    by_nps = with_nps.group_by(pl.col("score") <= 6).agg(pl.col("churned").mean()).sort("score")
    others, detractors = by_nps["churned"].to_list()
    assert detractors > others, by_nps


# --- exports ----------------------------------------------------------------------------------------------

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"

# Which canonical table each messy export holds.
EXPORT_TABLE = {
    "web_shop_orders.csv": "orders",
    "store_pos_orders.csv": "orders",
    "app_and_web_events.csv": "interactions",
    "store_visits.csv": "interactions",
    "email_activity.csv.gz": "interactions",
    "support_tickets.csv": "interactions",
    "crm_customers.csv": "customers",
    "survey_responses.csv": "surveys",
    "marketing_spend.csv": "spend",
}


def _text(path: Path) -> str:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    if path.name == "store_pos_orders.csv":
        return data.decode("cp1254")
    return data.decode("utf-8-sig")


def test_plain_exports_read_back_exactly(tables, tmp_path):
    written = write_exports(tables, tmp_path, messy=False)
    assert [p.name for p in written] == [f"{t}.csv" for t in tables]
    for path, frame in zip(written, tables.values(), strict=True):
        assert path.read_text().splitlines()[0] == ",".join(frame.columns)
        back = pl.read_csv(path, schema=frame.schema, try_parse_dates=False)
        assert_frame_equal(back, frame, check_exact=True)


def test_messy_exports_use_known_headers_and_dialects(tables, tmp_path):
    written = write_exports(tables, tmp_path, messy=True)
    assert sorted(p.name for p in written) == sorted(EXPORT_TABLE)
    for path in written:
        table = TABLES[EXPORT_TABLE[path.name]]
        aliases = {a for c in table.columns for a in c.aliases}
        first = _text(path).split("\n", 1)[0]
        header = first.split(";" if path.name == "store_pos_orders.csv" else ",")
        extra = [h for h in header if header_key(h) not in aliases]
        assert extra == ([] if table.name != "customers" else ["loyalty_tier"]), path.name
        assert b"\r\n" not in path.read_bytes()
    pos = (tmp_path / "store_pos_orders.csv").read_bytes()
    assert pos.decode("cp1254").startswith("Sipariş No;Müşteri No;Tarih;Kanal;Tutar;Durum\n")
    with pytest.raises(UnicodeDecodeError):
        pos.decode("utf-8")
    text = pos.decode("cp1254")
    assert ";Tamamlandı\n" in text and "İade Edildi" in text
    assert re.search(r";\d{2}\.\d{2}\.\d{4} \d{2}:\d{2};Mağaza;\d{1,3}\.\d{3},\d{2};", text)


def test_committed_sample_data_is_reproducible(tmp_path):
    written = write_exports(generate(customers=2000, seed=7), tmp_path, messy=True)
    for path in written:
        committed = SAMPLE_DATA / path.name
        assert committed.exists(), f"{path.name} missing from sample_data/: run `omni-metrics sample --out sample_data`"
        assert committed.read_bytes() == path.read_bytes(), path.name
    assert sum(p.stat().st_size for p in written) < 5_000_000


@pytest.mark.parametrize("messy", [True, False], ids=["messy", "plain"])
def test_loader_reads_the_exports_back_to_the_generated_tables(tmp_path, messy):
    loading = pytest.importorskip("omni_metrics.loading")
    tables = generate(customers=300, seed=11)
    written = write_exports(tables, tmp_path, messy=messy)
    loaded = loading.load_files(written, timezone="UTC")
    assert sorted(loaded.tables) == sorted(tables)
    assert loaded.set_aside.height == 0
    for name, expected in tables.items():
        got = loaded.tables[name]
        assert sorted(got.columns) == sorted(expected.columns), name
        # several files of one table are stacked in file order, so compare as sets of rows
        key = expected.columns
        assert_frame_equal(got.select(key).sort(key, nulls_last=True), expected.sort(key, nulls_last=True),
                           check_exact=True)
