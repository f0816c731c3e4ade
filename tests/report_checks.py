"""Comparing two reports' §10 data (shared by the report and engine tests)."""

from __future__ import annotations

import math


def assert_same(got, want, path: str = "data", *, rel_tol: float = 1e-9, abs_tol: float = 1e-9,
                clv_tol: float | None = None) -> None:
    """Two report values equal: the same keys in the same order, lists of the same length, floats within
    rel_tol / abs_tol (polars sums in parallel, so even two builds of one report can differ in the last
    digits); under `data.clv`, when clv_tol is given, within that (a numeric optimum found on two engines)."""
    if isinstance(want, float) and isinstance(got, float):
        if clv_tol is not None and path.startswith("data.clv"):
            rel_tol = abs_tol = clv_tol
        assert math.isclose(got, want, rel_tol=rel_tol, abs_tol=abs_tol), (path, got, want)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), path
        for key in want:
            assert_same(got[key], want[key], f"{path}.{key}", rel_tol=rel_tol, abs_tol=abs_tol, clv_tol=clv_tol)
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{path}[{i}]", rel_tol=rel_tol, abs_tol=abs_tol, clv_tol=clv_tol)
    else:
        assert got == want, (path, got, want)
