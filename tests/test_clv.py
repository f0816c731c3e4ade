"""BG/NBD and Gamma-Gamma against the published CDNOW results (Fader, Hardie & Lee 2005; Fader & Hardie 2013)."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.optimize import check_grad

from omni_metrics.loading import load_file
from omni_metrics.metrics import clv
from omni_metrics.metrics.clv import BetaGeoModel, GammaGammaModel, ModelFitError, clv_summary, predict_clv

AS_OF = datetime(1997, 9, 30, 23, 59, 59)


@pytest.fixture(scope="module")
def cdnow(cdnow_path):
    orders = load_file(cdnow_path).frame
    return orders, clv_summary(orders.filter(pl.col("timestamp") <= AS_OF), AS_OF)


def test_summary_has_the_946_repeaters(cdnow):
    _, summary = cdnow
    assert summary.height == 2357
    assert (summary["frequency"] > 0).sum() == 946
    assert (summary["customer_id"].str.len_chars() == 5).all()  # ids kept as text with their leading zeros


def test_bgnbd_reproduces_the_published_parameters_at_week_and_day(cdnow):
    _, s = cdnow
    week = BetaGeoModel().fit(s["frequency"], s["recency"] / 7, s["T"] / 7)
    assert {k: round(v, 3) for k, v in week.params_.items()} == {"r": 0.243, "alpha": 4.414, "a": 0.793,
                                                                 "b": 2.426}
    assert week.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    day = BetaGeoModel().fit(s["frequency"], s["recency"], s["T"])
    assert day.params_["r"] == pytest.approx(0.2426, abs=5e-5)
    assert day.params_["alpha"] == pytest.approx(30.895, abs=5e-4)
    assert day.params_["a"] == pytest.approx(0.7929, abs=5e-5)
    assert day.params_["b"] == pytest.approx(2.4259, abs=5e-5)
    # FHL 2005: x = 2, t_x = 30.43, T = 38.86 weeks → 1.226 purchases in the next 39 weeks.
    assert week.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86) == pytest.approx(
        1.226, abs=5e-4)


def test_gamma_gamma_reproduces_the_published_parameters(cdnow):
    _, s = cdnow
    gg = GammaGammaModel().fit(s["frequency"], s["monetary_value"])
    assert gg.params_["p"] == pytest.approx(6.25, abs=5e-3)
    assert gg.params_["q"] == pytest.approx(3.74, abs=5e-3)
    assert gg.params_["v"] == pytest.approx(15.44, abs=5e-3)


def test_analytic_gradient_matches_the_numerical_one(cdnow):
    _, s = cdnow
    x, tx, T = (s[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    model = BetaGeoModel()

    def value(log_params):
        return -model._log_likelihood(np.exp(log_params), x, tx, T)[0].sum()

    def gradient(log_params):
        params = np.exp(log_params)
        return -model._log_likelihood(params, x, tx, T)[1].sum(axis=1) * params

    start = np.log([0.3, 20.0, 0.8, 2.0])
    assert check_grad(value, gradient, start) / np.linalg.norm(gradient(start)) < 1e-5


def test_holdout_prediction_is_close_to_what_happened(cdnow):
    orders, s = cdnow
    x, tx, T = (s[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    model = BetaGeoModel().fit(x, tx, T)
    holdout = orders.filter(pl.col("timestamp") > AS_OF)
    actual = holdout.group_by("customer_id", pl.col("timestamp").dt.date()).len().height  # purchase days
    predicted = model.conditional_expected_number_of_purchases_up_to_time(273, x, tx, T).sum()
    # Printed figures (docs/models.md): 1,882 actual purchase days vs 1,653 predicted over the 39 weeks.
    assert abs(predicted - actual) / actual < 0.15


def test_predicted_clv_is_the_discounted_monthly_sum(cdnow):
    # For one customer, by hand: Σ_i [E(30i) − E(30(i−1))] · expected_aov / (1 + d)^i over H = 3 months.
    _, s = cdnow
    result, frame = predict_clv(s, horizon_months=3, discount_rate=0.05)
    x, tx, T = (s[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    bg = BetaGeoModel().fit(x, tx, T)
    e = [bg.conditional_expected_number_of_purchases_up_to_time(t, x[0], tx[0], T[0]) for t in (0, 30, 60, 90)]
    by_hand = sum((e[i] - e[i - 1]) / 1.05**i for i in (1, 2, 3)) * frame["expected_aov"][0]
    assert frame["predicted_clv"][0] == pytest.approx(by_hand, rel=1e-9)
    assert frame["expected_purchases"][0] == pytest.approx(e[3], rel=1e-12)
    assert (frame["predicted_clv"] >= 0).all() and 0 <= frame["p_alive"].min() <= frame["p_alive"].max() <= 1
    assert result["avg_predicted_clv"] == pytest.approx(frame["predicted_clv"].mean())
    # expected_aov: p(v + F·M)/(pF + q − 1) for F > 0, p·v/(q − 1) for F = 0
    p, q, v = (result["gamma_gamma"][k] for k in ("p", "q", "v"))
    first_timer = frame.filter(pl.Series(x == 0))["expected_aov"][0]
    assert first_timer == pytest.approx(p * v / (q - 1))


def test_data_that_no_bgnbd_explains_gives_a_plain_error():
    # Nobody ever drops out and rates are identical: the fit runs off to a parameter beyond 1e6.
    n = 400
    summary = pl.DataFrame({"customer_id": [str(i) for i in range(n)], "frequency": [3] * n,
                            "recency": [300.0] * n, "T": [300.0] * n, "monetary_value": [10.0] * n})
    result, frame = predict_clv(summary)
    assert frame is None and "Historical CLV only" in result["error"]


def test_everyone_bought_once_gives_a_plain_error_not_a_number():
    summary = pl.DataFrame({"customer_id": ["a", "b"], "frequency": [0, 0], "recency": [0.0, 0.0],
                            "T": [10.0, 20.0], "monetary_value": [0.0, 0.0]})
    result, frame = predict_clv(summary)
    assert frame is None and "fewer than 20 customers" in result["error"]
    with pytest.raises(ModelFitError):
        GammaGammaModel().fit([1, 2], [10.0, 20.0])


def _drawn(n: int, days: int) -> pl.DataFrame:
    """Summaries drawn from the BG/NBD + Gamma-Gamma processes (the benchmark's generator, true parameters known)."""
    spec = importlib.util.spec_from_file_location("bench_models", Path(__file__).parent.parent / "bench" / "models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.draw_summaries(n, seed=3, days=days), module.TRUE_BG, module.TRUE_GG


def test_patterns_equal_numpys_row_unique_with_summed_weights():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, 2000).astype(float)
    m = rng.choice([1.5, 2.25, np.pi, -0.5], 2000)  # not whole numbers: ranked, not shifted
    big = rng.integers(0, 3, 2000) * 1e9  # whole numbers too far apart for the shifted codes
    w = rng.random(2000)
    *columns, counts, inverse = clv._patterns(x, m, big, weights=w)
    unique, expected_inverse = np.unique(np.c_[x, m, big], axis=0, return_inverse=True)
    np.testing.assert_array_equal(np.c_[tuple(columns)], unique)
    np.testing.assert_array_equal(inverse, expected_inverse.ravel())
    np.testing.assert_allclose(counts, np.bincount(expected_inverse.ravel(), weights=w))


def test_warm_started_fit_over_many_patterns_equals_the_plain_fit(monkeypatch):
    # Over WARM_START_PATTERNS patterns the fit starts from a sample's optimum and Hessian (BFGS); it must land
    # where a plain L-BFGS-B fit over all patterns lands, and near the parameters the data were drawn from.
    summary, true_bg, true_gg = _drawn(40_000, days=2000)
    x, tx, T, m = (summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    monkeypatch.setattr(clv, "WARM_START_PATTERNS", 12_000)  # above the sample's 10,000 patterns
    assert len(clv._patterns(x, tx, T)[0]) > 12_000 and len(clv._patterns(x[x > 0], m[x > 0])[0]) > 12_000
    warm_bg, warm_gg = BetaGeoModel().fit(x, tx, T), GammaGammaModel().fit(x, m)
    monkeypatch.setattr(clv, "WARM_START_PATTERNS", 10**9)
    plain_bg, plain_gg = BetaGeoModel().fit(x, tx, T), GammaGammaModel().fit(x, m)
    for warm, plain, truth in ((warm_bg, plain_bg, true_bg), (warm_gg, plain_gg, true_gg)):
        for k, v in plain.params_.items():
            assert warm.params_[k] == pytest.approx(v, rel=1e-5), k
            assert v == pytest.approx(truth[k], rel=0.25), k
        assert warm.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-9)
