"""Benchmark: the dashboard on a large stored dataset — first render of each page and a filter change after it.

    .venv/bin/python bench/app.py [--customers 1000000] [--parquet /tmp/omni_data/c1000000]

Drives the real app in process (streamlit AppTest) on a dataset stored through the real store (a scratch
OMNI_DATA_DIR and SQLite database). The tables come from the sample generator (seed 7); with `--parquet DIR` they
are read from DIR when it holds them (the canonical tables of the same generator) and written there otherwise,
so a second run skips the generation. Prints the figures and writes them to bench/results/app.txt:

- the first render of the Overview: loads the dataset and computes the report, with the report's steps as the
  progress box shows them and how long each took (logged by pages/_shared.py);
- a switch to every descriptive page (the cached report: goal < 2 s each); a filter change while the models and
  attribution that the app starts in the background after the first render are computed, and back; then the
  wait for them, and a switch to each model page;
- a filter change (a new report for the new settings), then page switches and a switch back to the first
  settings (cached again); a filter change on a model page (its other figures at once, its models when the
  background has them); a period, a session gap, a segment and a start date change on the Overview; then two end date changes
  (an earlier as_of: a view of the latest cut, see report.prepare).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = ["pages/overview.py", "pages/channels.py", "pages/retention.py", "pages/customer_value.py",
         "pages/satisfaction.py", "pages/silence.py", "pages/journeys.py", "pages/data.py"]
TABLES = ("interactions", "orders", "surveys", "spend", "customers")
MODEL_PAGES = ["pages/customer_value.py", "pages/silence.py", "pages/journeys.py"]
DESCRIPTIVE = [p for p in PAGES[1:] if p not in MODEL_PAGES]
OUT = ROOT / "bench" / "results" / "app.txt"
# The goals: the first report under a minute; every later page switch or filter change under 2 s (a
# filter change that needs a new report counts too).
FIRST_GOAL, SWITCH_GOAL = 60.0, 2.0


class Steps(logging.Handler):
    """Collects the report's step timings that pages/_shared.py logs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("report "):
            self.lines.append(re.sub(r"^report \S+: ", "", message))


def tables_for(customers: int, parquet: Path | None):
    import polars as pl

    from omni_metrics.sample import generate

    if parquet is not None and all((parquet / f"{name}.parquet").exists() for name in TABLES):
        return {name: pl.read_parquet(parquet / f"{name}.parquet") for name in TABLES}, f"read from {parquet}"
    tables = generate(customers=customers, seed=7)
    if parquet is not None:
        parquet.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            frame.write_parquet(parquet / f"{name}.parquet")
    return tables, "generated (seed 7)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--parquet", type=Path, default=None,
                        help="read the generated tables from this folder (written there when missing)")
    args = parser.parse_args()
    os.environ["OMNI_DATA_DIR"] = tempfile.mkdtemp(prefix="omni-bench-")
    os.environ.pop("OMNI_DATABASE_URL", None)
    from streamlit.testing.v1 import AppTest

    from omni_metrics.store import Store
    from pages import _shared

    steps = Steps()
    logger = logging.getLogger("omni_metrics.app")
    logger.addHandler(steps)
    logger.setLevel(logging.INFO)
    lines: list[str] = []
    misses: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    def check(what: str, seconds: float, goal: float) -> str:
        if seconds > goal:
            misses.append(f"{what} {seconds:.2f} s > {goal:.0f} s")
        return "" if seconds <= goal else f"  ← over the {goal:.0f} s goal"

    def problems(at) -> str:
        shown = [e.value for e in at.exception] + [e.value for e in at.error]
        if shown:
            misses.append(f"an error on the page: {shown[0]}")
        return f"  PROBLEM: {shown}" if shown else ""

    say(f"bench/app.py: {os.cpu_count()} cores (shared), POLARS_MAX_THREADS={os.environ.get('POLARS_MAX_THREADS')}")
    t0 = time.perf_counter()
    tables, how = tables_for(args.customers, args.parquet)
    rows = {name: frame.height for name, frame in tables.items()}
    t1 = time.perf_counter()
    dataset = Store().save_dataset("bench", tables, owner="bench", currency="TRY")
    del tables
    say(f"{args.customers:,} customers, rows {rows}: {how} in {t1 - t0:.1f} s, stored in "
        f"{time.perf_counter() - t1:.1f} s")

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.query_params["ds"] = dataset
    t0 = time.perf_counter()
    at.run()
    rendered = time.perf_counter()
    first = rendered - t0
    say(f"first render of the Overview (loads the dataset, computes the report): {first:.1f} s"
        f"{check('first report', first, FIRST_GOAL)}{problems(at)}")
    say("  progress box steps and their durations: " + "; ".join(steps.lines))
    steps.lines.clear()

    def switch(page: str, label: str) -> None:
        t0 = time.perf_counter()
        at.switch_page(page).run()
        took = time.perf_counter() - t0
        say(f"{label} {Path(page).stem}: {took:.2f} s{check(f'{label} {Path(page).stem}', took, SWITCH_GOAL)}"
            f"{problems(at)}")

    def report_steps() -> None:
        """The steps of the report just computed (and of any other logged since the last call)."""
        if steps.lines:
            say("  steps: " + "; ".join(steps.lines))
        steps.lines.clear()

    def background_models() -> float:
        """Wait for the models the app started in the background after the first render; seconds waited."""
        t0 = time.perf_counter()
        for job in list(_shared._background()[1].values()):
            job.result()
        return time.perf_counter() - t0

    # The reader looks around the descriptive pages while the models are computed in the background.
    for page in DESCRIPTIVE:
        switch(page, "switch to")
    # ... and changes a filter while they are (in a child process at the idle CPU priority: how much does it cost?)
    jobs = list(_shared._background()[1].values())
    while jobs and not jobs[-1].running() and not jobs[-1].done():
        time.sleep(0.2)
    # well into the models: the job waits PREFETCH_DELAY_SECONDS, then its child process reads and prepares the
    # tables (about 8 s) and fits the CLV model; 10 s in, it works out the churn features
    time.sleep(_shared.PREFETCH_DELAY_SECONDS + 10.0)
    busy = bool(jobs) and jobs[-1].running()
    switch("pages/overview.py", "switch to")
    channels = next((m for m in at.multiselect if m.label == "Channels"), None)
    if channels is not None:
        t0 = time.perf_counter()
        channels.set_value(["web", "app"]).run()
        took = time.perf_counter() - t0
        say(f"filter change while the models are computed in the background{'' if busy else ' (they were not)'} "
            f"(channels = web, app; a new report): {took:.1f} s"
            f"{check('filter change beside the models', took, SWITCH_GOAL)}{problems(at)}")
        t0 = time.perf_counter()
        next(m for m in at.multiselect if m.label == "Channels").set_value([]).run()
        say(f"  and back to all channels (cached report): {time.perf_counter() - t0:.2f} s")
    waited = background_models()
    say(f"the models and attribution, started in the background at the first render, were ready "
        f"{time.perf_counter() - rendered:.1f} s after it (waited {waited:.1f} s here); a model page opened "
        f"sooner shows its other figures and a note until then")
    say("  steps: " + "; ".join(steps.lines))
    steps.lines.clear()
    for page in MODEL_PAGES + ["pages/overview.py"]:
        switch(page, "switch to")

    channels = next((m for m in at.multiselect if m.label == "Channels"), None)
    if channels is None:
        say("no Channels filter found: skipped the filter change")
    else:
        t0 = time.perf_counter()
        channels.set_value(["web", "store"]).run()
        took = time.perf_counter() - t0
        say(f"filter change (channels = web, store; a new report for new settings): {took:.1f} s"
            f"{check('filter change (new report)', took, SWITCH_GOAL)}{problems(at)}")
        say("  steps: " + "; ".join(steps.lines))
        steps.lines.clear()
        for page in DESCRIPTIVE[:2]:
            switch(page, "switch after the filter change to")
        waited = background_models()
        say(f"  its models in the background: ready {waited:.1f} s later; steps: " + "; ".join(steps.lines))
        steps.lines.clear()
        switch(MODEL_PAGES[0], "switch after the filter change to")
        channels = next(m for m in at.multiselect if m.label == "Channels")
        t0 = time.perf_counter()
        channels.set_value([]).run()
        took = time.perf_counter() - t0
        say(f"filter back to all channels (cached report): {took:.2f} s"
            f"{check('filter back', took, SWITCH_GOAL)}{problems(at)}")
        # A filter change on a model page: the page shows its other figures at once and a note where the models
        # go (their job starts at once); they are filled in when ready (a fragment reruns the page).
        t0 = time.perf_counter()
        next(m for m in at.multiselect if m.label == "Channels").set_value(["email", "web"]).run()
        took = time.perf_counter() - t0
        noted = any("being computed in the background" in i.value for i in at.info)
        say(f"filter change on {Path(MODEL_PAGES[0]).stem} (channels = email, web; a new report, its models in the "
            f"background{'' if noted else ' — NO NOTE SHOWN'}): {took:.1f} s"
            f"{check('filter change on a model page', took, SWITCH_GOAL)}{problems(at)}")
        report_steps()
        waited = background_models()
        t0 = time.perf_counter()
        at.run()  # what the page's fragment does once the models are there
        filled = not any("being computed in the background" in i.value for i in at.info)
        say(f"  its models were there {waited:.1f} s later; the page with them: {time.perf_counter() - t0:.2f} s"
            f"{'' if filled else ' — STILL PENDING'}{problems(at)}")
        next(m for m in at.multiselect if m.label == "Channels").set_value([]).run()
    period = next((s for s in at.get("segmented_control") if s.label == "Period"), None)
    if period is not None:
        switch("pages/overview.py", "switch to")
        period = next(s for s in at.get("segmented_control") if s.label == "Period")
        t0 = time.perf_counter()
        period.set_value("quarter").run()
        took = time.perf_counter() - t0
        say(f"period = quarter on the Overview (a new report): {took:.1f} s"
            f"{check('period change (new report)', took, SWITCH_GOAL)}{problems(at)}")
        report_steps()
    segment = next((m for m in at.multiselect if m.label == "segment"), None)
    if segment is not None and segment.options:
        t0 = time.perf_counter()
        segment.set_value([segment.options[0]]).run()
        took = time.perf_counter() - t0
        say(f"segment = {segment.options[0]} on the Overview (a new report): {took:.1f} s"
            f"{check('segment change (new report)', took, SWITCH_GOAL)}{problems(at)}")
        report_steps()
        next(m for m in at.multiselect if m.label == "segment").set_value([]).run()
    gap = next((n for n in at.number_input if n.key == "w.session_gap_minutes"), None)
    if gap is not None:  # an advanced setting: the cut's sessions under another gap (SessionIndex.with_gap)
        t0 = time.perf_counter()
        gap.set_value(45).run()
        took = time.perf_counter() - t0
        say(f"session gap = 45 minutes on the Overview (a new report): {took:.1f} s"
            f"{check('session gap change (new report)', took, SWITCH_GOAL)}{problems(at)}")
        report_steps()
        next(n for n in at.number_input if n.key == "w.session_gap_minutes").set_value(30).run()
    dates = next((d for d in at.date_input if d.label == "Date range"), None)
    if dates is not None and isinstance(dates.value, tuple | list) and len(dates.value) == 2:
        low, high = dates.value
        start = low + (high - low) * 3 // 4  # the last quarter of the data's span
        t0 = time.perf_counter()
        dates.set_value((start, high)).run()
        took = time.perf_counter() - t0
        say(f"start date = {start} on the Overview (a new report): {took:.1f} s"
            f"{check('start date change (new report)', took, SWITCH_GOAL)}{problems(at)}")
        report_steps()
        # an end date is an earlier as_of: a view of the latest cut (its touches and sessions are not made again)
        for label, window in (("end date", (start, high - (high - low) // 8)),
                              ("start date cleared, end date kept", (low, high - (high - low) // 8)),
                              ("another end date", (low, high - (high - low) // 3))):
            t0 = time.perf_counter()
            next(d for d in at.date_input if d.label == "Date range").set_value(window).run()
            took = time.perf_counter() - t0
            say(f"{label}: {window[0]} – {window[1]} on the Overview (an earlier as_of, a new report): "
                f"{took:.1f} s{check(f'{label} change (new report)', took, SWITCH_GOAL)}{problems(at)}")
            report_steps()
    say(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB (the app's process), "
        f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2:.2f} GB (its largest models process)")
    say("goals met" if not misses else "goals missed: " + "; ".join(misses))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
