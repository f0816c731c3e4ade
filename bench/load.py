"""Benchmark: the loader against plain `polars.read_csv` on the same file (rows/s and peak memory).

Builds the sample (`generate`) at --customers, writes interactions and orders as UTF-8 CSV and as a
Turkish-Excel export (`;`, decimal comma, DD.MM.YYYY dates, Turkish headers, Windows-1254), then measures
each reader in its own subprocess so every peak RSS is clean.

    .venv/bin/python bench/load.py --customers 520000     # ≈ 10M interaction rows
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "load.txt"


def _measure(task: str, path: str) -> None:
    """Run in a child: one read, then print seconds, rows and peak RSS as JSON."""
    import polars as pl

    from omni_metrics.loading import load_file

    start = time.perf_counter()
    if task == "read_csv":
        # Every column as String: with type inference polars fails on this file (order ids are digits
        # for 100 rows, then `MGZ-…`), and the loader must read ids as text anyway.
        rows = pl.read_csv(path, infer_schema=False).height
    elif task == "read_csv_typed":
        rows = pl.read_csv(path, infer_schema_length=None).height  # types inferred from every row
    else:
        result = load_file(path)
        rows = result.frame.height
        assert result.report.rows_read == rows + sum(result.report.set_aside.values()) + \
            result.report.duplicates_dropped
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent process.
    status = Path("/proc/self/status").read_text()
    peak_mib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mib": peak_mib}))


def _child(task: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", task, str(path)], capture_output=True, text=True)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _write(directory: Path, customers: int) -> dict[str, Path]:
    import polars as pl

    from omni_metrics.sample import _money, generate

    tables = generate(customers=customers, seed=7)
    paths = {}
    touches, orders = tables["interactions"], tables["orders"]
    del tables
    paths["interactions utf-8 ,"] = directory / "interactions.csv"
    touches.write_csv(paths["interactions utf-8 ,"], datetime_format="%Y-%m-%dT%H:%M:%S")
    tr = touches.select(
        pl.col("customer_id").alias("Müşteri No"),
        pl.col("timestamp").dt.strftime("%d.%m.%Y %H:%M:%S").alias("Tarih"),
        pl.col("channel").alias("Kanal"), pl.col("event_type").alias("Olay"),
        pl.col("session_id").alias("Oturum"), pl.col("campaign").alias("Kampanya"),
        pl.col("order_id").alias("Sipariş No"),
    )
    del touches
    paths["interactions cp1254 ; DD.MM"] = directory / "interactions_tr.csv"
    paths["interactions cp1254 ; DD.MM"].write_bytes(tr.write_csv(separator=";").encode("cp1254"))
    del tr
    paths["orders utf-8 ,"] = directory / "orders.csv"
    orders.write_csv(paths["orders utf-8 ,"], datetime_format="%Y-%m-%dT%H:%M:%S")
    tr = orders.select(
        pl.col("order_id").alias("Sipariş No"), pl.col("customer_id").alias("Müşteri No"),
        pl.col("timestamp").dt.strftime("%d.%m.%Y %H:%M").alias("Tarih"), pl.col("channel").alias("Kanal"),
        _money("revenue", decimal_comma=True).alias("Tutar"), pl.col("status").alias("Durum"),
        _money("margin", decimal_comma=True).alias("Kâr"),
    )
    paths["orders cp1254 ; decimal comma"] = directory / "orders_tr.csv"
    paths["orders cp1254 ; decimal comma"].write_bytes(tr.write_csv(separator=";").encode("cp1254"))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=520_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _measure(*args.child)
        return
    lines = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths = _write(Path(tmp), args.customers)
        say(f"sample at {args.customers:,} customers written in {time.perf_counter() - start:.1f} s")
        baseline: dict[str, dict] = {}
        for label, path in paths.items():
            size = path.stat().st_size / 1e6
            table = label.split()[0]
            if "utf-8" in label:
                for task, name in (("read_csv_typed", "read_csv (typed)"), ("read_csv", "read_csv (String)")):
                    base = _child(task, path)
                    if "error" in base:
                        say(f"{label:32s} {size:8,.0f} MB  {name:18s} fails: {base['error'][:80]}")
                        continue
                    say(f"{label:32s} {size:8,.0f} MB  {name:18s} {base['rows']:>11,} rows "
                        f"{base['seconds']:6.2f} s {base['rows'] / base['seconds']:>12,.0f} rows/s "
                        f"peak {base['peak_mib']:7,.0f} MiB")
                baseline[table] = base
            got = _child("load_file", path)
            ratio = got["seconds"] / baseline[table]["seconds"]
            say(f"{label:32s} {size:8,.0f} MB  {'load_file':18s} {got['rows']:>11,} rows "
                f"{got['seconds']:6.2f} s {got['rows'] / got['seconds']:>12,.0f} rows/s "
                f"peak {got['peak_mib']:7,.0f} MiB  ({ratio:.2f}× read_csv (String) of the UTF-8 file)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
