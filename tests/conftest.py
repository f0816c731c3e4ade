"""Shared fixtures: paths to the shared reference data and a scratch directory."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def cdnow_path() -> Path:
    path = SHARED / "data" / "cdnow_sample_orders.csv"
    if not path.exists():
        pytest.skip(f"reference data not found at {path}")
    return path
