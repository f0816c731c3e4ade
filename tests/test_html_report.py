"""The HTML report: one self-contained file that opens offline in a real browser and shows its charts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from omni_metrics.html_report import write_html_report
from omni_metrics.i18n import Locale
from omni_metrics.loading import load_files
from omni_metrics.report import Settings, build_report

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def report():
    files = sorted(p for p in (ROOT / "sample_data").iterdir() if not p.name.endswith(".md"))
    return build_report(load_files(files).tables, Settings(channels=("web", "store", "mobile_app", "email")))


@pytest.mark.parametrize("lang", ["en", "tr"])
def test_html_report_is_self_contained_and_states_the_view(report, tmp_path, lang):
    path = write_html_report(report, tmp_path / "report.html", lang=lang, currency="TRY", dataset_name="Sample")
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", text)  # plotly.js is embedded, nothing is fetched
    assert text.count("<script") >= 8
    assert "channels = web,store,mobile_app,email" in text  # the filters are stated
    assert ("Omni Metrics raporu" if lang == "tr" else "Omni Metrics report") in text
    revenue = Locale(lang, "TRY").money(report.data["overall"]["revenue"])
    assert revenue in text and revenue.startswith("₺4" if lang == "en" else "₺")


@pytest.mark.browser
def test_html_report_renders_its_charts_offline(report, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    path = write_html_report(report, tmp_path / "report.html", lang="tr", currency="TRY")
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=20_000)
        assert page.locator(".js-plotly-plot").count() >= 8
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "html_report.png"), full_page=True)
        browser.close()
    assert all(u.startswith(("file:", "data:", "blob:")) for u in requests), requests
    shutil.rmtree(tmp_path, ignore_errors=True)
