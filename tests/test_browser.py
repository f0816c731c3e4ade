"""The dashboard in a real Chromium: upload the sample exports, see the figures, share a link, screenshot every page.

Screenshots go to tests/artifacts/ (ignored by git). With OMNI_UPDATE_DOCS_SCREENSHOTS=1 the ones the docs show
are also written, palette-compressed, to docs/screenshots/: a plain test run never touches tracked files.
"""

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
UPDATE_DOCS = os.environ.get("OMNI_UPDATE_DOCS_SCREENSHOTS") == "1"
PAGES = ["overview", "channels", "retention", "customer_value", "satisfaction", "silence", "journeys", "data"]
SAMPLE_FILES = sorted(p for p in (ROOT / "sample_data").iterdir() if p.suffix in (".csv", ".gz"))
LOC = Locale("en")
# Overview tiles that do not depend on the dataset's currency: an upload of the sample files must show the
# sample's own figures in them.
COUNTS = ("customers", "buyers", "repeat_purchase_rate", "nps", "silent_customers")
# The page is done when no script run is going on, every chart has drawn, and that has held for a moment
# (a rerun that is about to start shows its running indicator within that moment).
IDLE = """() => {
  const busy = !document.querySelector('h1')
    || document.querySelector('[data-testid="stStatusWidget"]')
    || document.querySelector('[data-testid="stSkeleton"]')
    || [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].some(c => !c.querySelector('.main-svg'));
  if (busy) { window.__omniIdleSince = null; return false; }
  window.__omniIdleSince = window.__omniIdleSince || performance.now();
  return performance.now() - window.__omniIdleSince > 800;
}"""

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
    """Wait until the script run is over and every chart is drawn (see IDLE)."""
    page.evaluate("() => { window.__omniIdleSince = null; }")
    page.wait_for_function(IDLE, timeout=timeout, polling=100)


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
    settle(page)  # plotly redraws its charts at the new size
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs and UPDATE_DOCS:
        from PIL import Image

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # 256 colours are plenty for a dashboard and keep the PNGs the docs carry small.
        with Image.open(path) as image:
            image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
                SCREENSHOTS / f"{name}.png", optimize=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    return path


def no_errors(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    assert not errors, errors


def with_path(url: str, path: str) -> str:
    """The same address (its query: dataset, filters) on another page."""
    base, _, query = url.partition("?")
    root = base.split("/")[:3]
    return "/".join(root) + (f"/{path}" if path else "/") + (f"?{query}" if query else "")


def test_every_page_on_the_sample(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(server)
    for name in PAGES:
        if name != "overview":  # through the navigation, as a reader does: the session and its URL state stay
            title = page.locator("h1").first.inner_text()
            page.locator(f'[data-testid="stTopNavLink"][href$="/{name}"]').click()
            page.wait_for_function("t => document.querySelector('h1') && document.querySelector('h1').innerText"
                                   " !== t", arg=title, timeout=120_000)
        settle(page)
        no_errors(page)
        assert page.url.split("?")[0].rstrip("/").endswith(name if name != "overview" else server.split("/")[-1])
        assert page.locator("h1").count(), name
        assert page.locator('[data-testid="stPlotlyChart"]').count() or name == "data", f"{name}: no chart"
        screenshot(page, name, docs=True)
        if name == "overview":  # a download is written when clicked: the CSV arrives, with its header row
            with page.expect_download(timeout=60_000) as download:
                page.get_by_role("button", name=LOC.t("common.download_csv")).first.click()
            header = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()[0]
            assert download.value.suggested_filename == "trend.csv" and header.startswith("period,"), header
    context.close()
    # The Turkish interface, in a Turkish browser (the tables' grid writes numbers in the browser's language):
    # every label, number and chart in Turkish (the page title says it switched).
    turkish = browser.new_context(viewport={"width": 1400, "height": 900}, locale="tr-TR")
    page = turkish.new_page()
    page.goto(f"{server}/?lang=tr")
    settle(page)
    no_errors(page)
    assert page.locator("h1").first.inner_text().strip() == Locale("tr").t("overview.title")
    screenshot(page, "overview_tr", docs=True)
    turkish.close()


def test_upload_then_share(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(server)
    settle(page)
    sample = figures(page)

    page.goto(f"{server}/data")
    settle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([str(p) for p in SAMPLE_FILES])
    save = page.get_by_role("button", name=LOC.t("data.save.button"))
    save.wait_for(timeout=120_000)
    settle(page)
    # Every export was recognised: one expander per file, each marked usable.
    assert page.locator('[data-testid="stExpander"]').count() >= len(SAMPLE_FILES)
    assert page.get_by_text(LOC.t("table.interactions"), exact=False).count()
    no_errors(page)
    screenshot(page, "data_uploaded", docs=True)
    save.click()
    page.get_by_text("Saved as", exact=False).wait_for(timeout=120_000)
    settle(page)
    no_errors(page)
    assert "ds=" in page.url  # the address now names the upload, so a reload or bookmark finds it again

    page.goto(with_path(page.url, ""))
    settle(page)
    mine = figures(page)
    for key in COUNTS:  # the upload of the sample's own files shows the sample's figures
        assert mine[LOC.t(f"metric.{key}")] == sample[LOC.t(f"metric.{key}")], key
    assert mine[LOC.t("metric.customers")] not in ("", "–")
    screenshot(page, "overview_uploaded")

    page.goto(with_path(page.url, "data"))
    settle(page)
    page.get_by_role("button", name=LOC.t("data.links.create")).click()
    page.locator("code").filter(has_text="share=").first.wait_for(timeout=60_000)
    link = page.locator("code").filter(has_text="share=").first.inner_text().strip()
    assert link.startswith(server) and "share=" in link and "ds=" not in link
    screenshot(page, "data_share_link", docs=True)

    reader = browser.new_context(viewport={"width": 1400, "height": 900})  # another browser: no session, no owner
    shared = reader.new_page()
    shared.goto(link)
    settle(shared)
    no_errors(shared)
    assert figures(shared) == mine
    assert shared.get_by_text(LOC.t("share.read_only")).count()
    screenshot(shared, "shared_view", docs=True)
    reader.close()
    context.close()
