"""Benchmark: BG/NBD + Gamma-Gamma fit and prediction vs the `lifetimes` package; churn model at scale.

    .venv/bin/python bench/models.py [--sizes 20000 100000 1000000] [--churn 100000 1000000]
                                     [--sources sample drawn]

Summaries come from the sample generator (clv_summary of its completed orders, as the report computes them) and
from the BG/NBD + Gamma-Gamma processes themselves (where the true parameters are known).

Prints figures and writes them to bench/results/models.txt. `lifetimes` is a bench-only dependency, installed
here into the virtualenv when missing; it is never a runtime dependency.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from omni_metrics.metrics.clv import (  # noqa: E402
    BetaGeoModel,
    GammaGammaModel,
    clv_summary,
    discounted_purchases,
)

OUT = ROOT / "bench" / "results" / "models.txt"
LINES: list[str] = []


def say(line: str) -> None:
    print(line, flush=True)
    LINES.append(line)


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


TRUE_BG = {"r": 0.25, "alpha": 30.0, "a": 0.8, "b": 2.5}
TRUE_GG = {"p": 6.0, "q": 3.7, "v": 15.0}


def draw_summaries(n: int, seed: int = 1, days: int = 730) -> pl.DataFrame:
    """Customers drawn from the BG/NBD + Gamma-Gamma processes themselves (day unit, ages up to `days`), so both
    models have a true answer (TRUE_BG, TRUE_GG); ages in whole days as real summaries have them."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = TRUE_BG.values()
    T = rng.integers(1, days, n).astype(float)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    x = np.zeros(n)
    tx = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    t = np.zeros(n)
    # Purchases one round at a time across all customers (vectorised over customers, not over purchases).
    for _ in range(200):
        gap = rng.exponential(1 / np.maximum(lam, 1e-12))
        t_next = t + gap
        buys = alive & (t_next <= T)
        x[buys] += 1
        tx[buys] = np.floor(t_next[buys])
        t = np.where(buys, t_next, t)
        alive &= buys & (rng.random(n) > p)
        if not alive.any():
            break
    p_, q, v = TRUE_GG.values()
    nu = rng.gamma(q, 1 / v, n)
    m = np.where(x > 0, rng.gamma(p_ * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), 0.0)
    return pl.DataFrame({"frequency": x, "recency": tx, "T": T, "monetary_value": m})


def ours(s: pl.DataFrame) -> dict:
    x, tx, T, m = (s[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    t0 = time.perf_counter()
    bg = BetaGeoModel().fit(x, tx, T)
    gg = GammaGammaModel().fit(x, m)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    # The path predict_clv takes: everything once per distinct (x, t_x, T), 12 discounted 30-day months.
    discounted, _, inverse, (ux, utx, uT) = discounted_purchases(bg, x, tx, T, 12, 0.01)
    p_alive = bg.conditional_probability_alive(ux, utx, uT)[inverse]
    clv = discounted * gg.conditional_expected_average_profit(x, m)
    predict = time.perf_counter() - t0
    return {"fit": fit, "predict": predict, "bg": bg.params_, "gg": gg.params_, "patterns": len(ux),
            "p_alive": p_alive, "clv": clv}


def theirs(s: pl.DataFrame) -> dict:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    df = s.to_pandas()
    t0 = time.perf_counter()
    bg = BetaGeoFitter().fit(df["frequency"], df["recency"], df["T"])
    rep = df[df["frequency"] > 0]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    p_alive = bg.conditional_probability_alive(df["frequency"], df["recency"], df["T"])
    clv = gg.customer_lifetime_value(bg, df["frequency"], df["recency"], df["T"], df["monetary_value"], time=12,
                                     discount_rate=0.01, freq="D")
    predict = time.perf_counter() - t0
    return {"fit": fit, "predict": predict, "bg": dict(bg.params_), "gg": dict(gg.params_),
            "p_alive": np.asarray(p_alive), "clv": np.asarray(clv)}


_TABLES: dict[int, dict[str, pl.DataFrame]] = {}


def sample_tables(n: int) -> tuple[dict[str, pl.DataFrame], float]:
    """The sample generator's tables for n customers (seed 7), generated once per size in this run."""
    from omni_metrics.sample import generate

    t0 = time.perf_counter()
    if n not in _TABLES:
        _TABLES[n] = generate(customers=n, seed=7)
    return _TABLES[n], time.perf_counter() - t0


def sample_summaries(n: int) -> pl.DataFrame:
    """clv_summary of the sample generator's completed orders at its last touch, as the report computes it."""
    tables, _ = sample_tables(n)
    orders = tables["orders"].filter(pl.col("status") == "completed")
    return clv_summary(orders, tables["interactions"]["timestamp"].max())


def clv_bench(sizes: list[int], sources: list[str]) -> None:
    try:
        import lifetimes  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "lifetimes"], check=False)
    for n in sizes:
        for source in sources:
            s = sample_summaries(n) if source == "sample" else draw_summaries(n)
            compare(f"{source} n={n:,}", s)


def compare(label: str, s: pl.DataFrame) -> None:
    o = ours(s)
    say(f"BG/NBD+GG {label}: ours fit {o['fit']:.3f} s ({o['patterns']:,} patterns), predict 12 months "
        f"{o['predict']:.3f} s; peak {peak_gb():.2f} GB")
    say(f"  ours  r, alpha, a, b = {', '.join(f'{v:.6g}' for v in o['bg'].values())}; "
        f"p, q, v = {', '.join(f'{v:.6g}' for v in o['gg'].values())}")
    try:
        t = theirs(s)
    except Exception as exc:  # report, don't crash: the comparison is informative, not required
        say(f"  lifetimes failed: {type(exc).__name__}: {exc}")
        return
    bg_rel = max(abs(o["bg"][k] - t["bg"][k]) / abs(t["bg"][k]) for k in ("r", "alpha", "a", "b"))
    gg_rel = max(abs(o["gg"][k] - t["gg"][k]) / abs(t["gg"][k]) for k in ("p", "q", "v"))
    say(f"  lifetimes fit {t['fit']:.3f} s, predict {t['predict']:.3f} s → fit {t['fit'] / o['fit']:.1f}× "
        f"faster, predict {t['predict'] / o['predict']:.1f}× faster; params max rel diff BG {bg_rel:.2e}, "
        f"GG {gg_rel:.2e}; p_alive max abs diff {np.max(np.abs(o['p_alive'] - t['p_alive'])):.2e}")
    # lifetimes' CLV uses 30-day months with its own discounting: compare the shape, not to the cent.
    say(f"  CLV correlation with lifetimes {np.corrcoef(o['clv'], t['clv'])[0, 1]:.6f}")


def churn_bench(sizes: list[int]) -> None:
    from omni_metrics.metrics.churn import churn_risk

    for n in sizes:
        tables, gen = sample_tables(n)
        orders = tables["orders"].filter(pl.col("status") == "completed")
        as_of = tables["interactions"]["timestamp"].max()
        t0 = time.perf_counter()
        result, scores = churn_risk(tables["interactions"], orders, tables["surveys"], as_of)
        took = time.perf_counter() - t0
        say(f"churn n={n:,} ({tables['interactions'].height:,} touches; generated in {gen:.1f} s): train + "
            f"validate + score {took:.1f} s; ROC AUC {result['roc_auc']:.3f} vs recency baseline "
            f"{result['baseline_roc_auc']:.3f}; peak {peak_gb():.2f} GB")
        del orders, scores
        _TABLES.pop(n, None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[20_000, 100_000, 1_000_000])
    parser.add_argument("--churn", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--sources", nargs="*", choices=["sample", "drawn"], default=["sample", "drawn"],
                        help="summaries from the sample generator and/or drawn from the BG/NBD process itself")
    args = parser.parse_args()
    clv_bench(args.sizes, args.sources)
    churn_bench(args.churn)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(LINES) + "\n")


if __name__ == "__main__":
    main()
