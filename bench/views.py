"""Benchmark: one dataset's report under a sequence of settings, as the dashboard builds them (one Memo).

Usage: .venv/bin/python bench/views.py DIR [QUERY ...]

DIR holds canonical Parquet tables (`bench/report.py --data` writes them under DIR/c<customers>/). Each QUERY is
the view's URL query ("-" for the defaults, else e.g. "channels=web,store&period=quarter"); default: the
defaults, a period change, a segment, a start date, a channel filter and a period change under it. Prints
each report's time and its steps (the progress box's), first with one Memo shared by the sequence (what the
app does), then without (every report from the tables). Writes bench/results/views.txt.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT = ["-", "period=quarter", "seg.segment=Premium", "start=2025-06-01", "channels=web,store",
           "channels=web,store&period=quarter"]


def main(folder: Path, queries: list[str]) -> None:
    from omni_metrics.report import Memo, Settings, build_report
    from omni_metrics.store import read_table

    tables = {p.stem: read_table(p) for p in sorted(folder.glob("*.parquet"))}
    lines: list[str] = []
    for label, memo in (("one Memo for the sequence", Memo()), ("no Memo", None)):
        lines.append(f"{label}:")
        print(lines[-1], flush=True)
        for query in queries:
            settings = Settings.from_query(dict(kv.split("=", 1) for kv in query.split("&")) if query != "-" else {})
            clock = {"step": "", "at": time.perf_counter()}
            steps: list[str] = []

            def step(message: str, clock=clock, steps=steps) -> None:
                now = time.perf_counter()
                if clock["step"]:
                    steps.append(f"{clock['step']} {now - clock['at']:.2f}")
                clock.update(step=message, at=now)

            began = time.perf_counter()
            build_report(tables, settings, progress=step, models=False, memo=memo)
            lines.append(f"  {query}: {time.perf_counter() - began:.2f} s | " + " | ".join(steps))
            print(lines[-1], flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "views.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:] or DEFAULT)
