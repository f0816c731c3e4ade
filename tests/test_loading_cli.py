"""`omni-metrics load` end to end: the real command in a subprocess on files written by the test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ROOT / ".venv" / "bin" / "omni-metrics"


def run(*args: str) -> subprocess.CompletedProcess:
    command = [str(COMMAND)] if COMMAND.exists() else [sys.executable, "-m", "omni_metrics.cli"]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_load_writes_parquet_set_aside_and_summary(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "pos.csv").write_bytes(
        "Sipariş No;Müşteri No;Tarih;Kanal;Tutar\n1;007;14.03.2024 10:00;Mağaza;1.234,56\n"
        "2;008;31.02.2024 10:00;Mağaza;5,00\n".encode("cp1254"))
    (exports / "touches.csv").write_text("customer_id,timestamp,channel,event_type\n007,2024-03-14,web,visit\n")
    (exports / "notes.md").write_text("not an export")  # skipped: not a supported suffix
    out = tmp_path / "out"
    done = run("load", exports, "--out", out)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.glob("*.parquet")) == ["interactions.parquet", "orders.parquet"]
    orders = pl.read_parquet(out / "orders.parquet")
    assert orders.select("order_id", "customer_id", "revenue").rows() == [("1", "007", 1234.56)]
    aside = pl.read_csv(out / "set_aside.csv", infer_schema=False)
    assert aside.select("file", "row", "reason").rows() == [("pos.csv", "2", "unparseable_date")]
    summary = json.loads((out / "load_summary.json").read_text())
    assert [s["file"] for s in summary] == ["pos.csv", "touches.csv"]
    pos = summary[0]
    for key in ("file", "table", "encoding", "delimiter", "decimal", "date_format", "rows_read", "rows_used",
                "set_aside", "duplicates_dropped", "notes"):
        assert key in pos
    assert (pos["table"], pos["encoding"], pos["delimiter"]) == ("orders", "windows-1254", ";")
    assert (pos["rows_read"], pos["rows_used"], pos["set_aside"]) == (2, 1, {"unparseable_date": 1})
    assert pos["decimal"] == {"Tutar": ","} and pos["date_format"] == {"Tarih": "DD.MM.YYYY HH:MM"}
    assert "pos.csv: orders, 1 rows used, 1 set aside" in done.stdout


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "empty"),
    (b"foo,bar\n1,2\n", "cannot tell which table"),
])
def test_load_fails_with_the_message_and_a_nonzero_exit(tmp_path, content, problem):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    done = run("load", bad, "--out", tmp_path / "out")
    assert done.returncode != 0
    assert "bad.csv: " in done.stderr and problem in done.stderr
    assert "Traceback" not in done.stderr
