"""Share links end to end: made on the Data page, opened by a new browser with only the link's address."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import parse_qsl, urlsplit

import app_harness
from app_harness import messages, open_app

from omni_metrics.i18n import Locale
from omni_metrics.report import Settings
from omni_metrics.sample import generate
from omni_metrics.store import ShareLinkRow, Store
from omni_metrics.ui_state import browser_query, share_url, view_query

app_env = app_harness.app_env  # the fixture, made visible to pytest in this module
EN = Locale("en")
INVALID = EN.t("share.invalid")


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _upload(app_env) -> str:
    store = Store(data_dir=app_env / "omni")
    return store.save_dataset("Shop", generate(customers=120, seed=5), owner="someone", currency="EUR")


def test_link_round_trip_same_dataset_and_settings(app_env):
    dataset_id = _upload(app_env)
    # The owner's browser: their dataset, a week view of two channels and a longer session gap.
    owner = open_app({"ds": dataset_id, "period": "week", "channels": "store,web", "session_gap_minutes": "45",
                      "start": "2024-03-01"}, page="data")
    assert not owner.exception and not messages(owner)
    _, _, settings, _ = owner.session_state["_view"]
    assert (settings.period, settings.channels, settings.session_gap_minutes, settings.start) == \
        ("week", ("store", "web"), 45, date(2024, 3, 1))
    owner.selectbox(key="link_page").set_value("overview")
    next(b for b in owner.button if b.label == EN.t("data.links.create")).click().run()
    assert not owner.exception
    (url,) = [c.value for c in owner.code if "share=" in c.value]
    query = _query(url)
    assert "ds" not in query  # the link carries a token, never the owner's dataset id
    token = query["share"]
    # Only the hash of the token is in the database.
    store = Store(data_dir=app_env / "omni")
    with store.engine.connect() as conn:
        hashes = [row.token_hash for row in conn.execute(ShareLinkRow.__table__.select())]
    assert token not in hashes and len(hashes) == 1

    # A new browser with nothing but the link: same dataset, same settings, read-only.
    reader = open_app(query)
    assert not reader.exception and not messages(reader)
    got_id, _, got_settings, read_only = reader.session_state["_view"]
    assert got_id == dataset_id and read_only
    assert got_settings.key() == settings.key()
    assert reader.sidebar.selectbox.len == 0  # no dataset switching
    # The Data page offers no upload and no datasets there.
    data_page = open_app(query, page="data")
    assert not data_page.exception and len(data_page.file_uploader) == 0
    # The reader may change a filter locally; the dataset stays the shared one.
    reader.session_state["w.period"] = "quarter"
    reader.run()
    assert reader.session_state["_view"][0] == dataset_id and reader.session_state["_view"][2].period == "quarter"

    # The link as stored also opens the view when its address lost the view parameters.
    bare = open_app({"share": token})
    assert bare.session_state["_view"][2].key() == settings.key()

    # Revoked: the same address now opens nothing.
    (link,) = store.links_for(dataset_id)
    assert store.revoke_link(link.id)
    revoked = open_app(query)
    assert not revoked.exception
    assert INVALID in messages(revoked)
    assert "_view" not in revoked.session_state and len(revoked.metric) == 0
    # ...and a browser already showing it loses it on its next run.
    reader.run()
    assert INVALID in messages(reader) and len(reader.metric) == 0


def test_expired_and_made_up_links_are_refused(app_env):
    dataset_id = _upload(app_env)
    store = Store(data_dir=app_env / "omni")
    expired = store.create_link(dataset_id, {"period": "week"}, expires_in=timedelta(seconds=-1))
    for token in (expired, "made-up-token"):
        at = open_app({"share": token, "period": "week"})
        assert not at.exception
        assert INVALID in messages(at)
        assert len(at.metric) == 0 and at.sidebar.selectbox.len == 0
        assert dict(at.query_params) == {"share": token}


def test_link_opens_on_its_page(app_env):
    dataset_id = _upload(app_env)
    store = Store(data_dir=app_env / "omni")
    token = store.create_link(dataset_id, {"page": "data"})
    at = open_app({"share": token, "page": "data"})
    assert not at.exception and not messages(at)
    assert any(h.value == EN.t("data.title") for h in at.title)


def test_url_helpers():
    settings = Settings(period="week", channels=("web", "store"), segments={"region": ("İzmir",)})
    view = view_query(settings, "channels")
    assert view == {"period": "week", "channels": "web,store", "seg.region": "İzmir", "page": "channels"}
    assert view_query(Settings(), "overview") == {}
    url = share_url("http://host:8501/", "tok", view)
    assert url.startswith("http://host:8501/?share=tok&")
    assert Settings.from_query(_query(url)) == settings
    assert browser_query(settings, dataset="d1", lang="tr") == {**settings.to_query(), "ds": "d1", "lang": "tr"}
    # A shared view never names the reader's own dataset.
    assert "ds" not in browser_query(settings, dataset="d1", share="tok")
