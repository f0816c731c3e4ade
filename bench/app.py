"""Benchmark: the dashboard on a large stored dataset — first render of each page and a filter change after it.

    .venv/bin/python bench/app.py [--customers 1000000]

Drives the real app in process (streamlit AppTest) on a dataset stored through the real store. Prints figures
and writes them to bench/results/app.txt.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = ["pages/overview.py", "pages/channels.py", "pages/retention.py", "pages/customer_value.py",
         "pages/satisfaction.py", "pages/silence.py", "pages/journeys.py"]
OUT = ROOT / "bench" / "results" / "app.txt"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    os.environ["OMNI_DATA_DIR"] = tempfile.mkdtemp(prefix="omni-bench-")
    from streamlit.testing.v1 import AppTest

    from omni_metrics.sample import generate
    from omni_metrics.store import Store

    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    t0 = time.perf_counter()
    tables = generate(customers=args.customers, seed=7)
    touches = tables["interactions"].height
    dataset = Store().save_dataset("bench", tables, owner="bench", currency="TRY")
    del tables
    say(f"{args.customers:,} customers, {touches:,} touches: generated and stored in {time.perf_counter() - t0:.1f} s")

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.query_params["ds"] = dataset
    t0 = time.perf_counter()
    at.run()
    say(f"first render of the Overview (loads the dataset, computes the report): {time.perf_counter() - t0:.1f} s"
        f"{'; exceptions: ' + str([e.value for e in at.exception]) if at.exception else ''}")
    for page in PAGES[1:] + PAGES[:1]:
        t0 = time.perf_counter()
        at.switch_page(page).run()
        say(f"switch to {Path(page).stem}: {time.perf_counter() - t0:.2f} s"
            f"{' (exception)' if at.exception else ''}")
    channels = next((m for m in at.multiselect if m.label == "Channels"), None)
    if channels is not None:
        t0 = time.perf_counter()
        channels.set_value(["web", "store"]).run()
        say(f"filter change (channels = web, store; a new report): {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        at.switch_page(PAGES[1]).run()
        say(f"page switch after the filter change: {time.perf_counter() - t0:.2f} s")
    say(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
