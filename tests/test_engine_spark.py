"""The engine's rollups on a local Spark session equal polars on the sample, read from canonical Parquet files."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from omni_metrics import engine
from omni_metrics.loading import load_files
from omni_metrics.report import Settings, build_report

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed"),
    pytest.mark.skipif(shutil.which("java") is None, reason="java is not on PATH (Spark needs Java 17)"),
]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("omni-metrics-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    yield session
    session.stop()


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    tables = load_files(sorted((ROOT / "sample_data").glob("*.csv*"))).tables
    out = tmp_path_factory.mktemp("canonical")
    for name, frame in tables.items():
        frame.write_parquet(out / f"{name}.parquet")
    return tables, out


def test_the_report_on_spark_equals_polars(spark, sample):
    """Sessions, funnel, cohorts, journeys and the per-customer facts (the rollups) come out as on polars."""
    tables, out = sample
    p = build_report(tables, Settings())
    s = build_report(engine.read_tables_spark([str(out)], spark), Settings(engine="spark"))
    for key in ("customers", "visitors", "buyers", "sessions", "converting_sessions", "orders",
                "silent_customers"):
        assert s.data["overall"][key] == p.data["overall"][key], key
    assert s.data["overall"]["revenue"] == pytest.approx(p.data["overall"]["revenue"], rel=1e-9)
    assert s.data["funnel"] == p.data["funnel"]
    assert s.data["channels"] == p.data["channels"] or all(
        a["sessions"] == b["sessions"] and a["converting_sessions"] == b["converting_sessions"]
        for a, b in zip(s.data["channels"], p.data["channels"], strict=True))
    assert [(j["path"], j["customers"]) for j in s.data["journeys"]] == \
        [(j["path"], j["customers"]) for j in p.data["journeys"]]
    assert [c["active"] for c in s.data["cohorts"]] == [c["active"] for c in p.data["cohorts"]]
    assert "error" in s.data["churn"]  # the churn model needs event rows in process: not on Spark
    cols = ["customer_id", "orders", "frequency", "recency", "T", "n_channels", "journey", "silent", "rfm_segment"]
    assert_frame_equal(s.customers.select(cols), p.customers.select(cols), check_dtypes=False)
    assert isinstance(s.customers, pl.DataFrame)
