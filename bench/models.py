"""Benchmark: BG/NBD + Gamma-Gamma fit and prediction vs the `lifetimes` package; churn model at scale.

    .venv/bin/python bench/models.py [--sizes 20000 100000 1000000] [--churn 100000 1000000]

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

from omni_metrics.metrics.clv import BetaGeoModel, GammaGammaModel, _patterns  # noqa: E402

OUT = ROOT / "bench" / "results" / "models.txt"
LINES: list[str] = []


def say(line: str) -> None:
    print(line, flush=True)
    LINES.append(line)


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def draw_summaries(n: int, seed: int = 1) -> pl.DataFrame:
    """Customers drawn from the BG/NBD + Gamma-Gamma processes themselves (day unit, 2 years), so both models
    have a true answer; ages in whole days as real summaries have them."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = 0.25, 30.0, 0.8, 2.5
    T = rng.integers(1, 730, n).astype(float)
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
    nu = rng.gamma(3.7, 1 / 15.0, n)
    m = np.where(x > 0, rng.gamma(6.0 * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), 0.0)
    return pl.DataFrame({"frequency": x, "recency": tx, "T": T, "monetary_value": m})


def ours(s: pl.DataFrame) -> dict:
    x, tx, T, m = (s[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    t0 = time.perf_counter()
    bg = BetaGeoModel().fit(x, tx, T)
    gg = GammaGammaModel().fit(x, m)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    ux, utx, uT, _, inverse = _patterns(x, tx, T)
    p_alive = bg.conditional_probability_alive(ux, utx, uT)[inverse]
    months = np.arange(13) * 30.0
    cum = np.stack([bg.conditional_expected_number_of_purchases_up_to_time(t, ux, utx, uT) for t in months])
    disc = (1.01 ** -np.arange(1, 13))
    clv = (np.diff(cum, axis=0) * disc[:, None]).sum(axis=0)[inverse] * gg.conditional_expected_average_profit(x, m)
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


def clv_bench(sizes: list[int]) -> None:
    try:
        import lifetimes  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "lifetimes"], check=False)
    for n in sizes:
        s = draw_summaries(n)
        o = ours(s)
        say(f"BG/NBD+GG n={n:,}: ours fit {o['fit']:.3f} s ({o['patterns']:,} patterns), predict 12 months "
            f"{o['predict']:.3f} s; peak {peak_gb():.2f} GB")
        say(f"  ours  r, alpha, a, b = {', '.join(f'{v:.6g}' for v in o['bg'].values())}; "
            f"p, q, v = {', '.join(f'{v:.6g}' for v in o['gg'].values())}")
        try:
            t = theirs(s)
        except Exception as exc:  # report, don't crash: the comparison is informative, not required
            say(f"  lifetimes failed: {type(exc).__name__}: {exc}")
            continue
        bg_rel = max(abs(o["bg"][k] - t["bg"][k]) / abs(t["bg"][k]) for k in ("r", "alpha", "a", "b"))
        gg_rel = max(abs(o["gg"][k] - t["gg"][k]) / abs(t["gg"][k]) for k in ("p", "q", "v"))
        say(f"  lifetimes fit {t['fit']:.3f} s, predict {t['predict']:.3f} s → fit {t['fit'] / o['fit']:.1f}× "
            f"faster, predict {t['predict'] / o['predict']:.1f}× faster; params max rel diff BG {bg_rel:.2e}, "
            f"GG {gg_rel:.2e}; p_alive max abs diff {np.max(np.abs(o['p_alive'] - t['p_alive'])):.2e}")
        # lifetimes' CLV uses 30-day months with its own discounting: compare the shape, not to the cent.
        say(f"  CLV correlation with lifetimes {np.corrcoef(o['clv'], t['clv'])[0, 1]:.6f}")


def churn_bench(sizes: list[int]) -> None:
    from omni_metrics.metrics.churn import churn_risk
    from omni_metrics.sample import generate

    for n in sizes:
        t0 = time.perf_counter()
        tables = generate(customers=n, seed=7)
        gen = time.perf_counter() - t0
        orders = tables["orders"].filter(pl.col("status") == "completed")
        as_of = tables["interactions"]["timestamp"].max()
        t0 = time.perf_counter()
        result, scores = churn_risk(tables["interactions"], orders, tables["surveys"], as_of)
        took = time.perf_counter() - t0
        say(f"churn n={n:,} ({tables['interactions'].height:,} touches; generated in {gen:.1f} s): train + "
            f"validate + score {took:.1f} s; ROC AUC {result['roc_auc']:.3f} vs recency baseline "
            f"{result['baseline_roc_auc']:.3f}; peak {peak_gb():.2f} GB")
        del tables, orders, scores


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[20_000, 100_000, 1_000_000])
    parser.add_argument("--churn", type=int, nargs="*", default=[100_000, 1_000_000])
    args = parser.parse_args()
    clv_bench(args.sizes)
    churn_bench(args.churn)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(LINES) + "\n")


if __name__ == "__main__":
    main()
