"""The dashboard driven in process (streamlit AppTest): every page on the sample, filters, languages, share links, upload."""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from app_harness import scratch_store
from polars.testing import assert_frame_equal
from streamlit.testing.v1 import AppTest

from omni_metrics.i18n import Locale
from omni_metrics.report import Settings, build_report
from omni_metrics.store import Store
from pages._shared import fmt_value

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = ["overview", "channels", "retention", "customer_value", "satisfaction", "silence", "journeys", "data"]
# Overview tiles checked against build_report: (key in overall, how the tile writes it).
TILES = {"customers": "count", "buyers": "count", "revenue": "money", "aov": "money",
         "session_conversion_rate": "rate", "repeat_purchase_rate": "rate", "nps": "score",
         "silent_customers": "count"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """One scratch OMNI_DATA_DIR for the module: the sample is stored on the first run and reports stay cached."""
    with scratch_store(tmp_path_factory.mktemp("omni_data")) as path:
        yield path


@pytest.fixture(scope="module")
def sample(data_dir):
    """(store, sample dataset id, its tables) — the same store the app opens."""
    store = Store(data_dir=data_dir)
    dataset_id = store.sample_dataset_id()
    return store, dataset_id, store.load_tables(dataset_id)


def app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def tiles(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def expected_tiles(tables, settings: Settings, loc: Locale) -> dict[str, str]:
    overall = build_report(tables, settings).data["overall"]
    return {loc.t(f"metric.{k}"): fmt_value(loc, overall.get(k), kind) for k, kind in TILES.items()}


def test_every_page_renders_on_the_sample(data_dir, sample):
    at = app()
    assert not problems(at)
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        assert not problems(at), (page, problems(at))
        assert at.title, page
    # The analysis pages' strings all come from the messages: no raw key reaches the screen.
    at.switch_page("pages/silence.py").run()
    shown = [m.label for m in at.metric] + [s.value for s in at.subheader] + [c.value for c in at.caption]
    assert not [s for s in shown if s.startswith(("metric.", "silence.", "help.", "chart."))]


def test_every_page_renders_in_turkish(sample):
    loc = Locale("tr", "TRY")
    for page in PAGES:
        # Opened the way a link opens a page: `?lang=tr&page=<page>`.
        at = app(lang="tr", page=page)
        assert not problems(at), (page, problems(at))
        title = loc.t({"customer_value": "value.title"}.get(page, f"{page}.title"))
        assert [t.value for t in at.title] == [title], page
        assert title != Locale("en").t({"customer_value": "value.title"}.get(page, f"{page}.title"))


def test_overview_tiles_equal_the_report(sample):
    _, _, tables = sample
    loc = Locale("en", "TRY")
    at = app()
    assert not problems(at)
    got = tiles(at)
    for label, value in expected_tiles(tables, Settings(), loc).items():
        assert got[label] == value, label


def _models_children() -> dict[int, int]:
    """This process's children that compute models apart (omni_metrics.models_apart): pid → scheduling policy."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
            if parent == os.getpid() and b"omni_metrics.models_apart" in command:
                found[int(stat.parent.name)] = os.sched_getscheduler(int(stat.parent.name))
        except (OSError, ValueError, IndexError):  # gone meanwhile
            continue
    return found


def test_models_start_in_the_background_and_a_model_page_uses_them(sample, monkeypatch):
    """On a large dataset the models of a view are computed in the background once its descriptive figures are
    shown (here the size threshold is lowered so that the sample counts as large), in a child process at the
    idle CPU priority (Linux: seen in /proc)."""
    from pages import _shared

    store, dataset_id, tables = sample
    monkeypatch.setenv("OMNI_PREFETCH_TOUCHES", "1")
    settings = Settings(session_gap_minutes=29)  # settings no other test uses: reports of their own
    at = app(session_gap_minutes="29")
    assert not problems(at)
    key = (dataset_id, settings.key(), True)
    job = _shared._background()[1][key]
    children: dict[int, int] = {}
    while not job.done() and sys.platform == "linux":
        children |= _models_children()
        time.sleep(0.05)
    job.result(timeout=120)  # the worker's report, now in the shared cache
    if sys.platform == "linux":
        assert len(children) == 1 and set(children.values()) == {os.SCHED_IDLE}
    assert key in _shared._computed()
    at.switch_page("pages/customer_value.py").run()
    assert not problems(at)
    loc = Locale("en", "TRY")
    expected = build_report(tables, settings).data["clv"]["avg_predicted_clv"]
    assert tiles(at)[loc.t("metric.avg_predicted_clv")] == fmt_value(loc, expected, "money")
    # A quick series of views: a job waits PREFETCH_DELAY_SECONDS and gives up when a newer view was asked for
    # by then — only the newest view's models are computed.
    assert _shared.PREFETCH_DELAY_SECONDS >= 3  # time enough for the second view's run
    assert not problems(app(session_gap_minutes="27")) and not problems(app(session_gap_minutes="26"))
    left, newest = ((dataset_id, Settings(session_gap_minutes=gap).key(), True) for gap in (27, 26))
    _shared._background()[1][newest].result(timeout=120)
    assert newest in _shared._computed() and left not in _shared._computed()
    # Below the threshold nothing starts in the background: another new view, no job for it.
    monkeypatch.setenv("OMNI_PREFETCH_TOUCHES", str(10**12))
    assert not problems(app(session_gap_minutes="28"))
    assert (dataset_id, Settings(session_gap_minutes=28).key(), True) not in _shared._background()[1]
    assert (dataset_id, Settings(session_gap_minutes=28).key()) not in _shared._sections_worker()[1]


def test_a_model_page_on_a_large_dataset_shows_its_models_when_the_background_has_them(sample, monkeypatch):
    """On a large dataset a model page does not wait for its view's models: it shows the descriptive figures and
    says the models are coming, their job starts at once (no PREFETCH_DELAY_SECONDS), and the next run shows
    them. A job still running for a view the reader left is stopped for the view a model page waits for."""
    from omni_metrics.models_apart import ModelsApartError
    from pages import _shared

    _, dataset_id, tables = sample
    monkeypatch.setenv("OMNI_PREFETCH_TOUCHES", "1")
    loc = Locale("en", "TRY")
    pending = loc.t("status.models_pending")
    left = app(page="silence", session_gap_minutes="35")
    assert not problems(left) and pending in [i.value for i in left.info]
    left_job = _shared._background()[1][(dataset_id, Settings(session_gap_minutes=35).key(), True)]
    time.sleep(0.5)  # the job has started (no delay) ...
    assert left_job.running()
    # ... when the reader changes the view on a model page: this one's models are waited for, the other's stop
    settings = Settings(session_gap_minutes=36)
    at = app(page="customer_value", session_gap_minutes="36")
    assert not problems(at) and pending in [i.value for i in at.info]
    assert tiles(at)[loc.t("metric.avg_predicted_clv")] == fmt_value(loc, None, "money")
    historical = build_report(tables, settings, models=False).data["overall"]["avg_historical_clv"]
    assert tiles(at)[loc.t("metric.avg_historical_clv")] == fmt_value(loc, historical, "money")
    with pytest.raises(ModelsApartError, match="stopped"):
        left_job.result(timeout=60)
    _shared._background()[1][(dataset_id, settings.key(), True)].result(timeout=120)
    at.run()  # in a browser the page's fragment reruns it by itself once they are there
    assert not problems(at) and pending not in [i.value for i in at.info]
    expected = build_report(tables, settings).data["clv"]["avg_predicted_clv"]
    assert tiles(at)[loc.t("metric.avg_predicted_clv")] == fmt_value(loc, expected, "money")


def test_sections_are_made_in_the_background_and_a_page_reads_them(sample, monkeypatch):
    """On a large dataset the sections only some pages read (cohorts, journeys, RFM, the per-customer table) are
    made in the background SECTIONS_DELAY_SECONDS after a view is shown; the Retention page then shows them."""
    from pages import _shared

    _, dataset_id, tables = sample
    monkeypatch.setenv("OMNI_PREFETCH_TOUCHES", "1")
    settings = Settings(session_gap_minutes=31)  # settings no other test uses: a report of its own
    at = app(session_gap_minutes="31")
    assert not problems(at)
    report = _shared._report(dataset_id, settings, False)
    assert _shared._sections_worker()[1][(dataset_id, settings.key())].result(timeout=60) is True
    assert report.table._make is None and not {"cohorts", "nps_by_period"} & set(report.frames._later)  # made
    at.switch_page("pages/retention.py").run()
    assert not problems(at)
    want = build_report(tables, settings, models=False)
    assert_frame_equal(report.frames["retention_rate"], want.frames["retention_rate"])
    assert_frame_equal(report.customers, want.customers)


def test_background_sections_skip_a_view_left(sample, monkeypatch):
    """A view's sections are skipped when the reader asked for another view before they start, even while that
    view's report is still being computed (it would compete with it)."""
    from pages import _shared

    _, dataset_id, _ = sample
    monkeypatch.setenv("OMNI_PREFETCH_TOUCHES", "1")
    settings = Settings(session_gap_minutes=32)
    at = app(session_gap_minutes="32")
    assert not problems(at)
    assert _shared._newest()["view"] == (dataset_id, settings.key())  # set by the view, before its report
    # the reader asks for another view within SECTIONS_DELAY_SECONDS: view() marks it first thing
    _shared._newest()["view"] = (dataset_id, Settings(session_gap_minutes=33).key())
    assert _shared._sections_worker()[1][(dataset_id, settings.key())].result(timeout=60) is False
    assert _shared._report(dataset_id, settings, False).table._make is not None  # not made


def test_channel_filter_in_the_url_changes_the_tiles(sample):
    _, _, tables = sample
    loc = Locale("en", "TRY")
    everything = tiles(app())
    web = app(channels="web")
    assert not problems(web)
    got = tiles(web)
    expected = expected_tiles(tables, Settings(channels=("web",)), loc)
    for label, value in expected.items():
        assert got[label] == value, label
    # Only the web channel's customers: fewer than all of them.
    label = loc.t("metric.customers")
    assert int(got[label].replace(",", "")) < int(everything[label].replace(",", ""))


def test_share_link_opens_the_same_view_until_revoked_or_expired(sample):
    store, dataset_id, tables = sample
    loc = Locale("en", "TRY")
    token = store.create_link(dataset_id, {"channels": "store"})
    at = app(share=token)
    assert not problems(at)
    got = tiles(at)
    for label, value in expected_tiles(tables, Settings(channels=("store",)), loc).items():
        assert got[label] == value, label
    # Another page of the same link keeps the link's view.
    at.switch_page("pages/channels.py").run()
    assert not problems(at)

    (link,) = [x for x in store.links_for(dataset_id) if x.view == {"channels": "store"} and x.active()]
    assert store.revoke_link(link.id)
    revoked = app(share=token)
    assert [w.value for w in revoked.warning] == [loc.t("share.invalid")]
    assert not revoked.metric

    expired = app(share=store.create_link(dataset_id, {}, expires_in=timedelta(seconds=-1)))
    assert [w.value for w in expired.warning] == [loc.t("share.invalid")]
    assert not expired.metric

    made_up = app(share="not-a-token")
    assert [w.value for w in made_up.warning] == [loc.t("share.invalid")]


def test_upload_recognises_the_tables_and_refuses_a_bad_file(sample):
    loc = Locale("en", "TRY")
    at = app()
    at.switch_page("pages/data.py").run()
    assert not problems(at)
    sample_dir = ROOT / "sample_data"
    names = ["web_shop_orders.csv", "crm_customers.csv", "survey_responses.csv"]
    files = [(n, (sample_dir / n).read_bytes(), "text/csv") for n in names]
    files.append(("email_activity.csv.gz", (sample_dir / "email_activity.csv.gz").read_bytes(), "application/gzip"))
    bad = b"colour,size\nred,3\nblue,4\n"  # no table has these columns
    files.append(("mystery.csv", bad, "text/csv"))
    at.file_uploader[0].set_value(files).run()
    titles = [e.label.replace("*", "") for e in at.expander]
    recognised = {"web_shop_orders.csv": "orders", "crm_customers.csv": "customers",
                  "survey_responses.csv": "surveys", "email_activity.csv.gz": "interactions"}
    for name, table in recognised.items():
        assert f"{name} → {loc.t(f'table.{table}')}" in titles, (name, titles)
    assert "mystery.csv" in titles  # listed, with no table: refused
    refused = [e.value for e in at.error]
    assert len(refused) == 1 and refused[0].startswith(loc.t("data.upload.refused", file="mystery.csv", problem=""))
    assert not at.exception
    # The good files save as one dataset; the bad one is left out, and the app switches to the new dataset.
    form_submit = [b for b in at.button if b.label == loc.t("data.save.button")]
    assert form_submit
    form_submit[0].click().run()
    assert not at.exception
    at.switch_page("pages/overview.py").run()
    assert not problems(at)
    got = tiles(at)
    assert got[loc.t("metric.customers")] != "–"
