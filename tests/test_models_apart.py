"""The models computed in a child process at the lowest CPU priority (the dashboard's background work) equal the
models computed in the app's process, for the views the dashboard makes: filtered, earlier as_of, start date."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal
from report_checks import assert_same

from omni_metrics import models_apart
from omni_metrics.report import Memo, Settings, add_models, build_report, with_models

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The sample's tables as Parquet files (as the store keeps them) and the tables themselves."""
    from omni_metrics.loading import load_files

    files = sorted(p for p in (ROOT / "sample_data").iterdir() if not p.name.endswith(".md"))
    tables = load_files(files).tables
    folder = tmp_path_factory.mktemp("stored")
    for name, frame in tables.items():
        frame.write_parquet(folder / f"{name}.parquet")
    return tables, {name: folder / f"{name}.parquet" for name in tables}


@pytest.mark.parametrize("settings", [
    Settings(),
    Settings(channels=("web", "store"), segments={"segment": ("Regular", "Bargain Hunter")}, period="quarter"),
    # an earlier as_of: the app's memo makes it of the latest cut's rows, the child cuts the tables directly
    Settings(as_of=datetime(2025, 6, 30, 23, 59, 59, 999999), start=date(2025, 1, 1), lookback_days=14),
], ids=["default", "filtered", "earlier"])
def test_models_apart_equal_the_models_computed_here(stored, settings):
    tables, paths = stored
    memo = Memo()
    build_report(tables, Settings(), models=False, memo=memo)  # the app's first view: later ones reuse its cut
    here = add_models(build_report(tables, settings, models=False, memo=memo))
    apart = with_models(build_report(tables, settings, models=False, memo=memo), models_apart.compute(paths, settings))
    assert "error" not in apart.data["clv"] and "error" not in apart.data["churn"]
    assert isinstance(apart.data["attribution"], list) and apart.data["attribution"]
    # The CLV fits are numeric optima: sums over the customers made in parallel differ in their last digits
    # from run to run, and the optimum found moves by about 1e-9 of itself.
    assert_same(json.loads(apart.to_json()), json.loads(here.to_json()), abs_tol=1e-12, clv_tol=1e-7)
    assert_frame_equal(apart.customers, here.customers, check_exact=False, rel_tol=1e-7)
    for name, frame in here.frames.items():
        assert_frame_equal(apart.frames[name], frame, check_exact=False, rel_tol=1e-7)


def test_a_failing_child_says_why(stored):
    _, paths = stored
    missing = {**paths, "orders": paths["orders"].with_name("gone.parquet")}
    with pytest.raises(models_apart.ModelsApartError, match="gone.parquet"):
        models_apart.compute(missing, Settings())


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_the_child_runs_at_the_idle_priority():
    code = "from omni_metrics.models_apart import lowest_priority; import os; lowest_priority(); " \
           "print(os.sched_getscheduler(0))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert int(done.stdout) == os.SCHED_IDLE
