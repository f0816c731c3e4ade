"""Running app.py under Streamlit's AppTest with a scratch data directory (shared by the app tests)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def use_data_dir(mp: pytest.MonkeyPatch, path: Path) -> None:
    """The app's store on `path` (OMNI_DATA_DIR, its SQLite file) for as long as `mp` is in force."""
    mp.setenv("OMNI_DATA_DIR", str(path))
    mp.delenv("OMNI_DATABASE_URL", raising=False)


def keep_navigation_mode(mp: pytest.MonkeyPatch) -> None:
    """Keep AppTest in st.navigation mode for as long as `mp` is in force.

    AppTest builds a new PagesManager before every run and resets its class flag, so with a `pages/` folder next
    to app.py each rerun starts in Streamlit's old pages-folder mode, runs the page file alone, and the page's
    `require_shell()` reruns through app.py, dropping the button click being tested. A real server leaves that
    mode for good after its first run; here the flag is put back after each construction."""
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    mp.setattr(PagesManager, "__init__", init)


@contextlib.contextmanager
def scratch_store(path: Path, *, navigation: bool = False) -> Iterator[Path]:
    """For a module of app tests: the app's store on `path` (and AppTest kept in st.navigation mode when
    `navigation`), with Streamlit's process-wide caches cleared on the way in and out, so the app's Store
    opens this directory and reports computed here stay here."""
    with pytest.MonkeyPatch.context() as mp:
        use_data_dir(mp, path)
        if navigation:
            keep_navigation_mode(mp)
        st.cache_resource.clear()
        st.cache_data.clear()
        try:
            yield path
        finally:
            st.cache_resource.clear()
            st.cache_data.clear()


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """A fresh store under tmp_path, and AppTest kept in st.navigation mode (see keep_navigation_mode)."""
    use_data_dir(monkeypatch, tmp_path / "omni")
    keep_navigation_mode(monkeypatch)
    # The store is a process-wide resource: a new data directory needs a new one.
    from pages._shared import _computed, _tables, store

    store.clear()
    _tables.clear()
    _computed().clear()
    return tmp_path


def open_app(query: dict[str, str] | None = None, page: str | None = None) -> AppTest:
    """The app as a new browser opens it: a fresh session with only the URL's query parameters."""
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    return at


def messages(at: AppTest) -> list[str]:
    return [e.value for e in (*at.error, *at.warning)]
