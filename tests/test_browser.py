"""The dashboard in a real Chromium: upload the sample exports, see the figures, share a link, screenshot every page."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from omni_metrics.i18n import Locale

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PAGES = ["overview", "channels", "retention", "customer_value", "satisfaction", "silence", "journeys", "data"]
SAMPLE_FILES = sorted(p for p in (ROOT / "sample_data").iterdir() if p.suffix in (".csv", ".gz"))
LOC = Locale("en")

if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: the browser test needs the Debian chromium package",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run app.py` on a free port with a scratch data directory; yields the base URL."""
    port = _free_port()
    env = {**os.environ, "OMNI_DATA_DIR": str(tmp_path_factory.mktemp("omni_browser")),
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    env.pop("OMNI_DATABASE_URL", None)
    streamlit = ROOT / ".venv" / "bin" / "streamlit"
    command = [str(streamlit) if streamlit.exists() else shutil.which("streamlit") or sys.executable, "run",
               "app.py", "--server.port", str(port), "--server.headless", "true",
               "--server.fileWatcherType", "none"]
    log = (tmp_path_factory.mktemp("logs") / "streamlit.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"streamlit did not start; see {log.name}")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        yield chromium
        chromium.close()


def settle(page, timeout: float = 120_000) -> None:
    """Wait until the script run is over: a page title is drawn and Streamlit's running indicator is gone."""
    page.wait_for_selector("h1", timeout=timeout)
    idle = 0
    deadline = time.monotonic() + timeout / 1000
    while idle < 3 and time.monotonic() < deadline:  # idle for three checks in a row, not just one
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        idle = 0 if running else idle + 1
        page.wait_for_timeout(400)
    page.wait_for_timeout(600)  # plotly draws after the run


def figures(page) -> dict[str, str]:
    """The Overview tiles as the reader sees them: label → value."""
    page.wait_for_selector('[data-testid="stMetricValue"]', timeout=120_000)
    labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    return {label.strip(): value.strip() for label, value in zip(labels, values, strict=True)}


def screenshot(page, name: str, *, docs: bool = False) -> Path:
    """The whole page: the main area scrolls inside the app, so grow the viewport to its height first."""
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight); }")
    page.set_viewport_size({"width": 1400, "height": min(max(int(height), 900), 7000)})
    page.wait_for_timeout(600)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / f"{name}.png")
    page.set_viewport_size({"width": 1400, "height": 900})
    return path


def no_errors(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    assert not errors, errors


def test_every_page_on_the_sample(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    for name in PAGES:
        page.goto(f"{server}/{name}" if name != "overview" else server)
        settle(page)
        no_errors(page)
        assert page.locator("h1").count(), name
        screenshot(page, name, docs=True)
    context.close()


def test_upload_then_share(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{server}/data")
    settle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([str(p) for p in SAMPLE_FILES])
    save = page.get_by_role("button", name=LOC.t("data.save.button"))
    save.wait_for(timeout=120_000)
    settle(page)
    screenshot(page, "data_uploaded", docs=True)
    save.click()
    settle(page)
    no_errors(page)

    page.goto(page.url.replace("/data", "/") if "/data" in page.url else server)
    settle(page)
    mine = figures(page)
    customers = mine[LOC.t("metric.customers")]
    assert customers not in ("", "–")

    page.goto(page.url.replace(server + "/?", server + "/data?") if "?" in page.url else f"{server}/data")
    settle(page)
    page.get_by_role("button", name=LOC.t("data.links.create")).click()
    settle(page)
    link = page.locator("code").filter(has_text="share=").first.inner_text().strip()
    assert "share=" in link

    reader = browser.new_context(viewport={"width": 1400, "height": 900})
    shared = reader.new_page()
    shared.goto(link)
    settle(shared)
    no_errors(shared)
    assert figures(shared) == mine
    screenshot(shared, "shared_view", docs=True)
    reader.close()
    context.close()
