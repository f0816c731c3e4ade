"""Benchmark: time and peak memory of generate() and write_exports() at a given size (default 1M customers)."""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from omni_metrics.sample import generate, write_exports


def main(customers: int = 1_000_000) -> None:
    lines = []
    t0 = time.perf_counter()
    tables = generate(customers=customers, seed=7)
    t1 = time.perf_counter()
    rss_generate = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = ", ".join(f"{name} {frame.height:,}" for name, frame in tables.items())
    lines.append(f"generate({customers:,}): {t1 - t0:.1f} s, peak RSS {rss_generate:,.0f} MiB; rows: {rows}")
    with tempfile.TemporaryDirectory() as tmp:
        t2 = time.perf_counter()
        written = write_exports(tables, tmp, messy=True)
        t3 = time.perf_counter()
        size = sum(p.stat().st_size for p in written) / 1e6
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines.append(f"write_exports(messy): {t3 - t2:.1f} s, {size:,.0f} MB in {len(written)} files, "
                 f"peak RSS so far {rss:,.0f} MiB")
    for line in lines:
        print(line)
    out = Path(__file__).parent / "results" / "sample.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
