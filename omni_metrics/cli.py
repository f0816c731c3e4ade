"""The `omni-metrics` command: load, sample, report, serve."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _progress(message: str) -> None:
    print(f"… {message}", file=sys.stderr, flush=True)


def _expand(paths: list[str]) -> list[Path]:
    """Files as given; a directory stands for the files in it (sorted, hidden ones skipped)."""
    from omni_metrics.loading import SUPPORTED_SUFFIXES

    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(
                p for p in path.iterdir()
                if p.is_file() and not p.name.startswith(".")
                and any(p.name.lower().endswith(s) for s in SUPPORTED_SUFFIXES)
            )
        else:
            files.append(path)
    return files


def _load(paths: list[str], timezone: str):
    from omni_metrics.loading import load_files

    files = _expand(paths)
    _progress(f"loading {len(files)} file(s)")
    return load_files(files, timezone=timezone)


def cmd_load(args: argparse.Namespace) -> int:
    loaded = _load(args.files, args.timezone)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for table, frame in loaded.tables.items():
        frame.write_parquet(out / f"{table}.parquet")
    loaded.set_aside.write_csv(out / "set_aside.csv")
    summary = [r.to_dict() for r in loaded.reports]
    (out / "load_summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    for r in loaded.reports:
        aside = sum(r.set_aside.values())
        print(f"{r.file}: {r.table}, {r.rows_used:,} rows used, {aside:,} set aside, "
              f"{r.duplicates_dropped:,} duplicates dropped ({r.encoding}, '{r.delimiter}')")
    print(f"wrote {', '.join(sorted(loaded.tables))} to {out}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from omni_metrics.sample import generate, write_exports

    _progress(f"generating {args.customers:,} customers (seed {args.seed})")
    tables = generate(customers=args.customers, seed=args.seed)
    out = Path(args.out)
    if args.parquet:
        out.mkdir(parents=True, exist_ok=True)
        for table, frame in tables.items():
            frame.write_parquet(out / f"{table}.parquet")
        written = [out / f"{t}.parquet" for t in tables]
    else:
        written = write_exports(tables, out, messy=args.messy)
    for path in written:
        print(path)
    return 0


def _settings_from_args(args: argparse.Namespace):
    from omni_metrics.report import Settings

    return Settings.from_cli(args)


def cmd_report(args: argparse.Namespace) -> int:
    from omni_metrics.report import build_report, summary_lines

    settings = _settings_from_args(args)
    if settings.engine == "spark":
        from omni_metrics.engine import read_tables_spark

        tables = read_tables_spark(args.files)
        rows = None
    else:
        loaded = _load(args.files, args.timezone)
        tables, rows = loaded.tables, loaded.rows()
    report = build_report(tables, settings, progress=_progress, rows=rows)
    if args.json_out:
        Path(args.json_out).write_text(report.to_json())
    if args.customers_out:
        report.customers.write_csv(args.customers_out)
    if getattr(args, "html_out", None):
        from omni_metrics.html_report import write_html_report

        write_html_report(report, args.html_out, lang=args.lang, currency=args.currency)
    for line in summary_lines(report):
        print(line)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import subprocess

    app = Path(__file__).resolve().parent.parent / "app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port)]
    return subprocess.call(cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omni-metrics", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("load", help="load exports into canonical Parquet tables")
    p.add_argument("files", nargs="+", help="files or directories")
    p.add_argument("--out", required=True)
    p.add_argument("--timezone", default="UTC")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("sample", help="write synthetic omnichannel exports")
    p.add_argument("--customers", type=int, default=2000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", required=True)
    p.add_argument("--messy", action=argparse.BooleanOptionalAction, default=True,
                   help="write as real exports would be (several dialects); --no-messy for plain UTF-8 CSV")
    p.add_argument("--parquet", action="store_true", help="write canonical Parquet tables instead")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("report", help="compute the report (METRICS.md §10)")
    p.add_argument("files", nargs="+", help="files or directories")
    p.add_argument("--as-of")
    p.add_argument("--period", choices=["week", "month", "quarter"], default="month")
    p.add_argument("--start")
    p.add_argument("--end")
    p.add_argument("--channel", action="append", dest="channels")
    p.add_argument("--segment", action="append", dest="segments", metavar="ATTRIBUTE=VALUE")
    p.add_argument("--engine", choices=["polars", "duckdb", "spark"], default="polars")
    p.add_argument("--json-out")
    p.add_argument("--customers-out")
    p.add_argument("--html-out")
    p.add_argument("--lang", choices=["en", "tr"], default="en", help="language of the HTML report")
    p.add_argument("--currency", default="USD", help="ISO code of the data's currency (TRY, USD, EUR…)")
    p.add_argument("--timezone", default="UTC")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("serve", help="open the dashboard")
    p.add_argument("--port", type=int, default=8501)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    from omni_metrics.loading import LoadError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
