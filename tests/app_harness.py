"""Running app.py under Streamlit's AppTest with a scratch data directory (shared by the app tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """A fresh store under tmp_path, and AppTest kept in st.navigation mode.

    AppTest builds a new PagesManager before every run and resets its class flag, so with a `pages/` folder next
    to app.py each rerun starts in Streamlit's old pages-folder mode, runs the page file alone, and the page's
    `require_shell()` reruns through app.py, dropping the button click being tested. A real server leaves that
    mode for good after its first run; here the flag is put back after each construction."""
    monkeypatch.setenv("OMNI_DATA_DIR", str(tmp_path / "omni"))
    monkeypatch.delenv("OMNI_DATABASE_URL", raising=False)
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
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
