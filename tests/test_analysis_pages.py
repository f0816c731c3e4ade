"""The analysis pages in AppTest: the figures they show equal build_report's, the filters move them, gaps are said."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from app_harness import scratch_store
from streamlit.testing.v1 import AppTest

from omni_metrics.i18n import Locale
from omni_metrics.report import Settings, build_report
from omni_metrics.store import Store
from pages._shared import fmt_value

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
EN = Locale("en", "TRY")  # the sample is stored in Turkish lira


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """(store, sample id, tables, report under the default settings), in a scratch OMNI_DATA_DIR."""
    with scratch_store(tmp_path_factory.mktemp("omni_pages")) as path:
        store = Store(data_dir=path)
        dataset_id = store.sample_dataset_id()
        tables = store.load_tables(dataset_id)
        yield store, dataset_id, tables, build_report(tables, Settings())


def run(page: str = "overview", **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    return at


def tiles(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frame_shown(at: AppTest, column: str) -> pl.DataFrame:
    """The first table on the page that has this column, as the page handed it to st.dataframe."""
    for table in at.dataframe:
        if column in table.value.columns:
            return pl.from_pandas(table.value)
    raise AssertionError(f"no table with {column}")


def test_each_page_shows_the_reports_key_figures(sample):
    _, _, _, report = sample
    overall, clv, churn = report.data["overall"], report.data["clv"], report.data["churn"]

    got = tiles(run("retention"))
    assert got[EN.t("metric.repeat_purchase_rate")] == fmt_value(EN, overall["repeat_purchase_rate"], "rate")

    got = tiles(run("customer_value"))
    assert got[EN.t("metric.avg_historical_clv")] == EN.money(overall["avg_historical_clv"])
    assert got[EN.t("metric.avg_predicted_clv")] == EN.money(clv["avg_predicted_clv"])

    got = tiles(run("satisfaction"))
    # e.g. "21.7 ± 5.7": the NPS with its 95 % margin, one decimal each
    assert got[EN.t("metric.nps")] == f"{EN.number(overall['nps'], 1)} ± {EN.number(overall['nps_moe'], 1)}"
    assert got[EN.t("metric.csat")] == EN.number(overall["csat"], 1)

    at = run("silence")
    got = tiles(at)
    assert got[EN.t("metric.silent_customers")] == EN.number(overall["silent_customers"])
    assert got[EN.t("silence.roc_auc")] == EN.number(churn["roc_auc"], 3)
    assert got[EN.t("silence.baseline_roc_auc")] == EN.number(churn["baseline_roc_auc"], 3)
    # the at-risk list (high band by default) holds exactly the model's high-risk customers, riskiest first
    at_risk = frame_shown(at, "churn_risk")
    assert at_risk.height == churn["at_risk"]["high"]
    assert at_risk["churn_risk"].to_list() == sorted(at_risk["churn_risk"].to_list(), reverse=True)
    assert any(b.label == EN.t("silence.download_at_risk") for b in at.get("download_button"))

    at = run("channels")
    shown = frame_shown(at, "session_conversion_rate").sort("sessions")
    expected = report.frames["channels"].sort("sessions")
    assert shown["sessions"].to_list() == expected["sessions"].to_list()
    assert shown["revenue"].to_list() == pytest.approx(expected["revenue"].to_list())

    got = tiles(run("journeys"))
    assert got[EN.t("metric.omnichannel_premium")] == EN.number(overall["omnichannel_premium"], 2) + "×"


def test_every_table_can_be_downloaded(sample):
    for page in ("channels", "retention", "customer_value", "satisfaction", "silence", "journeys"):
        at = run(page)
        downloads = at.get("download_button")
        assert len(downloads) >= len(at.dataframe), page


def test_date_range_filter_changes_the_tiles_as_build_report_does(sample):
    _, _, tables, report = sample
    at = run()
    start, end = date(2025, 7, 1), date(2025, 9, 30)
    at.sidebar.date_input[0].set_value((start, end)).run()
    assert not at.exception and not at.error
    expected = build_report(tables, Settings(start=start, end=end)).data["overall"]
    got = tiles(at)
    assert got[EN.t("metric.revenue")] == EN.money(expected["revenue"])
    assert got[EN.t("metric.customers")] == EN.number(expected["customers"])
    assert expected["revenue"] < report.data["overall"]["revenue"]


def test_segment_filter_changes_the_tiles_as_build_report_does(sample):
    _, _, tables, report = sample
    at = run()
    # the customers table's attribute columns are the segment filters (the sample: segment, region, tier)
    segment = next(m for m in at.sidebar.multiselect if m.label != EN.t("sidebar.channels"))
    value = segment.options[0]
    segment.set_value([value]).run()
    assert not at.exception and not at.error
    expected = build_report(tables, Settings(segments={segment.label: (value,)})).data["overall"]
    got = tiles(at)
    assert got[EN.t("metric.customers")] == EN.number(expected["customers"])
    assert expected["customers"] < report.data["overall"]["customers"]


def test_period_filter_regroups_the_retention_figures(sample):
    at = run("retention")
    months = frame_shown(at, "retention_rate")["period"].to_list()
    assert all(len(p) == 7 and p[4] == "-" for p in months)  # 2024-02
    (period,) = [b for b in at.sidebar.button_group if b.label == EN.t("sidebar.period")]
    period.set_value("week").run()
    assert not at.exception and not at.error
    weeks = frame_shown(at, "retention_rate")["period"].to_list()
    assert all("-W" in p for p in weeks) and len(weeks) > len(months)


def test_turkish_pages_write_numbers_the_turkish_way(sample):
    _, _, _, report = sample
    tr = Locale("tr", "TRY")
    got = tiles(run("overview", lang="tr"))
    # 4618978.86 → ₺4.618.978,86
    assert got[tr.t("metric.revenue")] == tr.money(report.data["overall"]["revenue"])
    assert "." in got[tr.t("metric.revenue")] and got[tr.t("metric.revenue")].endswith(",86")
    for page in ("channels", "retention", "customer_value", "satisfaction", "silence", "journeys"):
        at = run(page, lang="tr")
        assert at.title[0].value == tr.t({"customer_value": "value.title"}.get(page, f"{page}.title"))


def test_missing_tables_are_named_plainly(sample):
    store, _, tables, _ = sample
    only = {k: v for k, v in tables.items() if k in ("interactions", "customers")}
    dataset_id = store.save_dataset("no orders, no surveys", only, owner="test", currency="TRY")
    infos = {page: [i.value for i in run(page, ds=dataset_id).info] for page in
             ("satisfaction", "retention", "customer_value", "channels")}
    assert EN.t("satisfaction.no_surveys") in infos["satisfaction"]
    assert EN.t("retention.no_orders") in infos["retention"]
    assert EN.t("value.no_orders") in infos["customer_value"]
    assert EN.t("channels.no_orders") in infos["channels"] and EN.t("channels.no_spend") in infos["channels"]
