"""Benchmark: the whole report from Parquet at 100k and 1M customers, stage by stage, against plain DuckDB SQL.

Usage: .venv/bin/python bench/report.py [--data DIR] [customers ...]   (default: 100000 1000000)

`--data DIR` reuses canonical Parquet tables at DIR/c<customers>/ (the same seed-7 generator output) instead of
generating them; a size without such a directory is generated as usual.

Per size, each step runs in a fresh process so its peak RSS is its own:
1. `sample.generate(customers, seed=7)` written to canonical Parquet tables (timed in bench/sample.py);
2. the heavy part on our polars engine — read the Parquet, the as_of cut and the touches in tie order,
   sessions and per-channel conversion, orders per channel, monthly cohorts — with the functions
   build_report uses;
3. the same heavy part as one plain DuckDB SQL script over the same files (DuckDB's own Parquet reader, the
   same tie order and session rule), checked to give the same sessions, orders and cohort revenue;
4. the whole report of sections 1-3, 4 (historical), 5, 6 (silence), 8 and 9 end to end from Parquet, on the
   polars engine and on the DuckDB engine (models and attribution have their own benchmarks: bench/models.py,
   bench/attribution.py), with each stage's time and the peak RSS reached in it (sampled every 20 ms).
Targets: heavy part on polars ≤ 0.8 × DuckDB's; whole report ≤ 2 × DuckDB's heavy part; peak < 6 GB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("interactions", "orders", "surveys", "spend", "customers")


class RssMeter:
    """Peak resident memory per stage: a thread samples /proc/self/statm; `mark` closes a stage."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = 0
        self.stages: list[tuple[str, float, float]] = []
        self._t = time.perf_counter()
        threading.Thread(target=self._sample, daemon=True).start()

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.02)

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.peak = max(self.peak, self._rss())
        self.stages.append((name, now - self._t, self.peak / 2**20))
        self._t, self.peak = now, self._rss()

    @staticmethod
    def total_peak_mib() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
        return float("nan")


def _generate(customers: str, out: str) -> None:
    from omni_metrics.sample import generate

    tables = generate(customers=int(customers), seed=7)
    for name, frame in tables.items():
        frame.write_parquet(Path(out) / f"{name}.parquet")
    print(json.dumps({name: frame.height for name, frame in tables.items()}))


def _read(out: str, names: tuple[str, ...] = TABLES) -> dict:
    """The tables as the app reads a stored dataset (store.read_table; imported by the caller before its
    clock starts, as the DuckDB side imports duckdb before its own)."""
    from omni_metrics.store import read_table

    return {name: read_table(p) for name in names if (p := Path(out) / f"{name}.parquet").exists()}


def _heavy_polars(out: str) -> None:
    import polars as pl

    from omni_metrics import engine, store  # noqa: F401 (store: _read's, imported before the clock starts)
    from omni_metrics.report import Settings, cohort_tables, prepare

    meter = RssMeter()
    t0 = time.perf_counter()
    tables = _read(out, ("interactions", "orders", "surveys"))  # what the DuckDB SQL reads
    meter.mark("read parquet")
    prep = prepare(tables, Settings())
    meter.mark("as_of cut, touches in tie order")
    index = engine.SessionIndex(prep.touches, 30, prep.touch_rows)  # as build_report sessionises
    days = index.days(index.view(prep.touches))
    conv = engine.channel_conversion(prep.touches, 30, days, engine.window_tables(prep.touches, prep.orders)["people"])
    by_orders = engine.order_channels(prep.orders)
    meter.mark("sessions, per-channel conversion, orders")
    as_of_period = pl.select(engine.pl_period_index(pl.lit(prep.as_of), "month")).item()
    cohorts, _ = cohort_tables(engine.order_days(prep.orders), None, None, "month", as_of_period)
    meter.mark("monthly cohorts")
    print(json.dumps({"seconds": time.perf_counter() - t0, "stages": meter.stages,
                      "peak_mib": meter.total_peak_mib(), "sessions": int(conv["sessions"].sum()),
                      "orders": int(by_orders["orders"].sum()), "cohort_cells": cohorts.height,
                      "cohort_revenue": float(cohorts["revenue"].sum())}))


DUCKDB_HEAVY = """
CREATE TEMP TABLE cut AS SELECT greatest(
  (SELECT max(timestamp) FROM read_parquet('{d}/interactions.parquet')),
  (SELECT max(timestamp) FROM read_parquet('{d}/orders.parquet')),
  (SELECT max(timestamp) FROM read_parquet('{d}/surveys.parquet'))) AS as_of;
CREATE TEMP TABLE o AS SELECT * FROM read_parquet('{d}/orders.parquet', file_row_number = true)
  WHERE coalesce(status, 'completed') = 'completed' AND timestamp <= (SELECT as_of FROM cut);
CREATE TEMP TABLE t AS
  WITH i AS (SELECT customer_id, timestamp, channel, event_type, session_id, order_id, file_row_number AS row_nr,
                    0 AS source FROM read_parquet('{d}/interactions.parquet', file_row_number = true)
             WHERE timestamp <= (SELECT as_of FROM cut))
  SELECT *, CASE WHEN event_type = 'purchase' THEN 3 WHEN event_type = 'checkout' THEN 2
                 WHEN event_type IN ('product_view', 'add_to_cart', 'email_click', 'wishlist') THEN 1 ELSE 0 END
            AS stage_rank
  FROM (SELECT * FROM i UNION ALL
        SELECT customer_id, timestamp, channel, 'purchase', NULL, order_id, file_row_number, 1 FROM o
        WHERE NOT EXISTS (SELECT 1 FROM i WHERE event_type = 'purchase'));
CREATE TEMP TABLE sessions AS
  SELECT channel, converts FROM (
    SELECT arg_min(channel, (timestamp, stage_rank, channel, event_type, coalesce(order_id, ''), source, row_nr))
             AS channel, bool_or(event_type = 'purchase') AS converts
    FROM t WHERE session_id IS NOT NULL GROUP BY customer_id, session_id)
  UNION ALL
  SELECT channel, bool_or(buy) FROM (
    SELECT customer_id, channel, buy, sum(new) OVER (PARTITION BY customer_id, channel ORDER BY k
                                                     ROWS UNBOUNDED PRECEDING) AS nr
    FROM (SELECT customer_id, channel, event_type = 'purchase' AS buy,
                 (timestamp, stage_rank, event_type, coalesce(order_id, ''), source, row_nr) AS k,
                 CASE WHEN lag(timestamp) OVER w IS NULL OR timestamp - lag(timestamp) OVER w > INTERVAL 30 MINUTE
                      THEN 1 ELSE 0 END AS new
          FROM t WHERE session_id IS NULL
          WINDOW w AS (PARTITION BY customer_id, channel
                       ORDER BY timestamp, stage_rank, event_type, coalesce(order_id, ''), source, row_nr)))
  GROUP BY customer_id, channel, nr;
CREATE TEMP TABLE conversion AS
  SELECT c.channel, s.sessions, s.converting_sessions, c.visitors, c.buyers, o.orders, o.revenue FROM
    (SELECT channel, count(DISTINCT customer_id) AS visitors,
            count(DISTINCT customer_id) FILTER (WHERE event_type = 'purchase') AS buyers FROM t GROUP BY channel) c
    LEFT JOIN (SELECT channel, count(*) AS sessions, count(*) FILTER (WHERE converts) AS converting_sessions
               FROM sessions GROUP BY channel) s USING (channel)
    LEFT JOIN (SELECT channel, count(*) AS orders, sum(revenue) AS revenue FROM o GROUP BY channel) o USING (channel);
CREATE TEMP TABLE cohorts AS
  WITH f AS (SELECT customer_id, arg_min(timestamp, (timestamp, order_id)) AS first_order FROM o GROUP BY 1),
       a AS (SELECT customer_id, year(timestamp) * 12 + month(timestamp) - 1 AS p, sum(revenue) AS revenue
             FROM o GROUP BY 1, 2),
       g AS (SELECT a.*, year(first_order) * 12 + month(first_order) - 1 AS g FROM a JOIN f USING (customer_id)),
       sizes AS (SELECT g, count(*) AS size FROM g WHERE p = g GROUP BY g)
  SELECT g, p - g AS "offset", any_value(size) AS size, count(*) AS active, sum(revenue) AS revenue
  FROM g JOIN sizes USING (g) GROUP BY g, p - g;
"""


def _heavy_duckdb(out: str) -> None:
    import duckdb

    meter = RssMeter()
    t0 = time.perf_counter()
    con = duckdb.connect()
    for statement in DUCKDB_HEAVY.format(d=out).split(";"):
        if statement.strip():
            con.execute(statement)
    sessions, orders = con.execute("SELECT sum(sessions), sum(orders) FROM conversion").fetchone()
    cells, revenue = con.execute("SELECT count(*), sum(revenue) FROM cohorts").fetchone()
    meter.mark("heavy part (one SQL script)")
    print(json.dumps({"seconds": time.perf_counter() - t0, "stages": meter.stages,
                      "peak_mib": meter.total_peak_mib(), "sessions": int(sessions), "orders": int(orders),
                      "cohort_cells_with_activity": int(cells), "cohort_revenue": float(revenue)}))


def _whole_report(out: str, engine_name: str = "polars") -> None:
    from omni_metrics import store  # noqa: F401 (_read's, imported before the clock starts)
    from omni_metrics.report import Settings, build_report

    meter = RssMeter()
    t0 = time.perf_counter()
    tables = _read(out)
    meter.mark("read parquet")
    pending = ["start"]

    def progress(message: str) -> None:
        if pending[0] != "start":
            meter.mark(pending[0])
        pending[0] = message

    report = build_report(tables, Settings(engine=engine_name), progress=progress, models=False)
    meter.mark(pending[0])
    print(json.dumps({"seconds": time.perf_counter() - t0, "stages": meter.stages,
                      "peak_mib": meter.total_peak_mib(), "customers": report.data["overall"]["customers"],
                      "sessions": report.data["overall"]["sessions"]}))


def _child(function: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", function, *args], capture_output=True, text=True,
                          cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{function} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def pq_rows(path: Path) -> int:
    import polars as pl

    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def _stages(result: dict) -> list[str]:
    return [f"    {name:<44} {seconds:7.2f} s   peak {peak:7,.0f} MiB" for name, seconds, peak in result["stages"]]


def main(sizes: list[int], data: Path | None = None) -> None:
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    say(f"bench/report.py: {os.cpu_count()} cores (shared), POLARS_MAX_THREADS="
        f"{os.environ.get('POLARS_MAX_THREADS', 'unset')}")
    totals = {}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"omni-report-{n}-") as tmp:
            reuse = data / f"c{n}" if data is not None else None
            if reuse is not None and all((reuse / f"{t}.parquet").exists() for t in TABLES):
                out = str(reuse)
                rows = {t: pq_rows(reuse / f"{t}.parquet") for t in TABLES}
            else:
                out = tmp
                rows = _child("_generate", str(n), out)
            size = sum((Path(out) / f"{t}.parquet").stat().st_size for t in TABLES) / 2**20
            say(f"\n{n:,} customers: rows {rows} ({size:,.0f} MiB of Parquet)")
            duck = _child("_heavy_duckdb", out)
            heavy = _child("_heavy_polars", out)
            whole = _child("_whole_report", out, "polars")
            whole_duck = _child("_whole_report", out, "duckdb")
            assert heavy["sessions"] == duck["sessions"] == whole["sessions"] == whole_duck["sessions"]
            assert heavy["orders"] == duck["orders"]
            assert abs(heavy["cohort_revenue"] - duck["cohort_revenue"]) < 1e-6 * max(1.0, duck["cohort_revenue"])
            say(f"  heavy part as plain DuckDB SQL:  {duck['seconds']:.2f} s, peak {duck['peak_mib']:,.0f} MiB")
            say(f"  heavy part on our polars engine: {heavy['seconds']:.2f} s, peak {heavy['peak_mib']:,.0f} MiB")
            for line in _stages(heavy):
                say(line)
            for label, result in (("polars", whole), ("duckdb", whole_duck)):
                say(f"  whole report (sections 1-6, 8, 9; no models), engine {label}: {result['seconds']:.2f} s, "
                    f"peak {result['peak_mib']:,.0f} MiB")
                for line in _stages(result):
                    say(line)
            say(f"  heavy polars / DuckDB SQL = {heavy['seconds'] / duck['seconds']:.2f} (target ≤ 0.8); "
                f"whole report / DuckDB heavy = {whole['seconds'] / duck['seconds']:.2f} (target ≤ 2); "
                f"peak {max(heavy['peak_mib'], whole['peak_mib']) / 1024:.1f} GiB (target < 6)")
            say(f"  same answers: sessions {heavy['sessions']:,}, orders {heavy['orders']:,}, "
                f"cohort revenue {heavy['cohort_revenue']:,.2f}")
            totals[n] = (heavy["seconds"], duck["seconds"], whole["seconds"], whole["peak_mib"])
    if len(totals) > 1:
        small, big = min(totals), max(totals)
        say(f"\nscaling {small:,} → {big:,} customers (×{big / small:g}): heavy polars "
            f"×{totals[big][0] / totals[small][0]:.1f}, DuckDB SQL ×{totals[big][1] / totals[small][1]:.1f}, "
            f"whole report ×{totals[big][2] / totals[small][2]:.1f}, peak memory ×{totals[big][3] / totals[small][3]:.1f}")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "report.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        globals()[sys.argv[2]](*sys.argv[3:])
    else:
        args = sys.argv[1:]
        data_dir = None
        if "--data" in args:
            i = args.index("--data")
            data_dir = Path(args[i + 1])
            del args[i:i + 2]
        main([int(a) for a in args] or [100_000, 1_000_000], data_dir)
