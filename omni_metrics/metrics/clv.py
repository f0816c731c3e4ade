"""Predictive customer lifetime value: BG/NBD (purchases) and Gamma-Gamma (spend), METRICS.md §4."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import polars as pl
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1
from threadpoolctl import threadpool_limits

MIN_REPEATERS = 20
MAX_PARAMETER = 1e6
WARM_START_PATTERNS = 50_000  # above this many patterns, a warm start on a sample of them pays off
WARM_START_SAMPLE = 10_000
LOG_BOUNDS = (-12.0, 14.0)  # e^14 ≈ 1.2e6: a parameter pressed against the bound fails the 1e6 test
SMALL_GRADIENT = 1e-5  # per customer, in log-parameters: "at the optimum" for an optimiser that stopped early


class ModelFitError(ValueError):
    """The model cannot be fitted to these data; the message says why in plain words."""


def _as_float(values, name: str) -> np.ndarray:
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values, dtype=float).ravel()
    if not np.all(np.isfinite(array)):
        raise ModelFitError(f"Some customers have a missing or infinite {name}.")
    return array


def _dense_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's rank among the distinct values (0, 1, 2… in sorted order) and the number of distinct values.
    Whole numbers in a small range (days, purchase counts) are their own codes after a shift; others are ranked
    by polars' parallel dense rank."""
    if not values.size:
        return values.astype(np.int64), 0
    low, high = values.min(), values.max()
    if high - low < 1e7 and (values.dtype.kind in "iu" or np.array_equal(values, np.floor(values))):
        codes = (values - low).astype(np.int64)
        present = np.zeros(int(high - low) + 1, dtype=np.int64)
        present[codes] = 1
        ranks = np.cumsum(present) - 1  # dense: ranks only over the values that occur
        return ranks[codes], int(present.sum())
    ranks = pl.Series(values).rank("dense").to_numpy().astype(np.int64) - 1
    return ranks, int(ranks.max()) + 1


def _unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True) in linear time for the whole numbers these models mostly see."""
    inverse, distinct = _dense_codes(values)
    unique = np.empty(distinct)
    unique[inverse] = values
    return unique, inverse


def _patterns(*columns: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Collapse rows with identical inputs: (unique columns..., summed weights (counts), inverse index), the
    unique rows in sorted order, so that the likelihood's sums always add up in the same order.
    Each column becomes its dense rank, the ranks one mixed-radix integer key, and the key its dense rank:
    a few linear passes where numpy's row-wise unique would sort a million tuples."""
    arrays = [np.asarray(c, dtype=float).ravel() for c in columns]
    key, size = np.zeros(arrays[0].size, dtype=np.int64), 1
    for values in arrays:
        codes, distinct = _dense_codes(values)
        if size * distinct >= 2**62:  # re-rank the key so far first: the combined key then stays in int64
            key, size = _dense_codes(key)
        key, size = key * distinct + codes, size * distinct
    inverse, groups = _dense_codes(key)
    counts = np.bincount(inverse, weights=weights, minlength=groups).astype(float)
    unique = []
    for values in arrays:
        column = np.empty(groups)
        column[inverse] = values  # identical within a group, so any writer wins
        unique.append(column)
    return (*unique, counts, inverse)


def _fit_log_params(neg_ll_and_grad, start: np.ndarray, what: str,
                    hess_inv0: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Minimise the mean negative log-likelihood over log-parameters with its analytic gradient: L-BFGS-B
    (bounded) from a plain start; BFGS from `hess_inv0`, the inverse Hessian of a warm start, which then needs
    only a few steps over the whole data."""
    # The optimisers make tiny BLAS calls; a multithreaded BLAS on a busy machine spends far longer waking its
    # threads than computing (12 ms per step instead of microseconds), so they run on one thread here.
    with threadpool_limits(limits=1, user_api="blas"):
        result = None
        if hess_inv0 is not None:
            result = minimize(neg_ll_and_grad, np.log(start), jac=True, method="BFGS",
                              options={"maxiter": 200, "gtol": 1e-7, "hess_inv0": hess_inv0})
            if not _at_optimum(result) or np.any(np.abs(result.x) > max(map(abs, LOG_BOUNDS))):
                start, result = np.exp(result.x) if np.all(np.isfinite(result.x)) else start, None
        if result is None:
            result = minimize(neg_ll_and_grad, np.log(start), jac=True, method="L-BFGS-B",
                              bounds=[LOG_BOUNDS] * len(start),
                              options={"maxiter": 1000, "gtol": 1e-9, "ftol": 1e-13})
    params = np.exp(result.x)
    if not np.isfinite(result.fun) or not np.all(np.isfinite(params)):
        raise ModelFitError(f"The {what} fit did not converge: its likelihood is not finite.")
    # a parameter running off is said first: the line search often gives up on the way (ABNORMAL), or not,
    # depending on the last bits of the data's sums, and the reader should hear the reason, not the symptom
    if np.any(params > MAX_PARAMETER):
        raise ModelFitError(f"The {what} fit did not converge: a parameter runs off beyond {MAX_PARAMETER:g}.")
    if not _at_optimum(result):
        raise ModelFitError(f"The {what} fit did not converge ({result.message}).")
    return params, -float(result.fun)


def _at_optimum(result) -> bool:
    """A line search that cannot improve further in floating point ("ABNORMAL", "precision loss") stops at the
    optimum when the gradient there is flat; anything else the optimiser reports as failure is one."""
    return bool(result.success) or float(np.max(np.abs(result.jac))) < SMALL_GRADIENT


def _warm_start(objective_on, n_patterns: int, start: np.ndarray, what: str):
    """(start, inverse Hessian or None) for the fit over all patterns. Over many patterns, first a fit on a seeded
    sample of them: its optimum lies close to the full one, and its Hessian (central differences of the analytic
    gradient) is the full objective's to a few per cent, so BFGS from there converges in a few steps."""
    if n_patterns <= WARM_START_PATTERNS:
        return start, None
    sample = objective_on(np.random.default_rng(0).choice(n_patterns, WARM_START_SAMPLE, replace=False))
    try:
        start, _ = _fit_log_params(sample, start, what)
    except ModelFitError:
        return start, None
    h = 1e-5
    columns = [(sample(np.log(start) + h * e)[1] - sample(np.log(start) - h * e)[1]) / (2 * h)
               for e in np.eye(len(start))]
    hessian = (np.array(columns) + np.array(columns).T) / 2
    if not np.all(np.isfinite(hessian)) or np.any(np.linalg.eigvalsh(hessian) <= 0):
        return start, None
    inverse = np.linalg.inv(hessian)
    return start, (inverse + inverse.T) / 2  # exactly symmetric, as BFGS checks


class BetaGeoModel:
    """The BG/NBD model of Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to
    the Pareto/NBD Model", Marketing Science 24(2): 275–284 (FHL below).

    While alive, a customer buys at Poisson rate λ ~ Gamma(r, alpha); after each purchase they drop out with
    probability p ~ Beta(a, b). Inputs per customer: frequency x (repeat purchases), recency t_x (time of the last
    purchase after the first) and age T (time since the first), in one time unit. The log-likelihood is the log
    of FHL eq. (6), its two terms added with logaddexp so that neither overflows; `fit` maximises it over
    log-parameters with L-BFGS-B and its analytic gradient (digamma terms), after collapsing customers with
    identical (x, t_x, T) into weighted patterns.
    """

    def __init__(self) -> None:
        self.params_: dict[str, float] = {}
        self.log_likelihood_: float = float("nan")

    @staticmethod
    def _likelihood_on(x: np.ndarray, tx: np.ndarray, T: np.ndarray):
        """ℓ(r, alpha, a, b) per pattern (log of FHL eq. 6) and its gradient, as a closure over the data.
        Gamma-type terms depend on x alone and logs on T or t_x alone: computed once per distinct value (a few
        dozen x, at most a few thousand ages at a day unit) and gathered, which keeps a step over a million
        customers' patterns to milliseconds."""
        (ux, xi), (uT, Ti), (utx, txi) = (_unique(v) for v in (x, T, tx))
        repeat = x > 0
        r_x = x  # (r + x) is formed per step; kept as a name for the formulas' sake

        def log_likelihood(params: np.ndarray):
            r, alpha, a, b = params
            bx1 = np.maximum(b + ux - 1, 1e-12)  # b + x − 1, used only where x > 0
            log_at, log_atx = np.log(alpha + uT)[Ti], np.log(alpha + utx)[txi]
            b0 = betaln(a, b)
            # FHL eq. (6) = A1 · (A2 + δ(x>0) A3), A1 = Γ(r+x) α^r / Γ(r)
            a1 = (gammaln(r + ux) - gammaln(r) + r * np.log(alpha))[xi]
            a2 = (betaln(a, b + ux) - b0)[xi] - (r + r_x) * log_at
            a3 = np.where(repeat, (betaln(a + 1, bx1) - b0)[xi] - (r + r_x) * log_atx, -np.inf)
            total = np.logaddexp(a2, a3)
            w2 = np.exp(a2 - total)  # shares of the two terms in the sum: the gradient's weights
            w3 = 1.0 - w2
            inv_at, inv_atx = (1 / (alpha + uT))[Ti], (1 / (alpha + utx))[txi]
            psi_ab = digamma(a + b)
            psi_abx = digamma(a + b + ux)[xi]
            d_r = (digamma(r + ux) - digamma(r))[xi] + np.log(alpha) - w2 * log_at - w3 * log_atx
            d_alpha = r / alpha - (r + r_x) * (w2 * inv_at + w3 * inv_atx)
            d_a = w2 * (psi_ab - psi_abx) + w3 * (digamma(a + 1) - digamma(a) + psi_ab - psi_abx)
            d_b = (w2 * (digamma(b + ux) - digamma(b))[xi] + w3 * (digamma(bx1) - digamma(b))[xi]
                   + psi_ab - psi_abx)
            return a1 + total, np.vstack([d_r, d_alpha, d_a, d_b])

        return log_likelihood

    @classmethod
    def _log_likelihood(cls, params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray):
        """Per-customer log-likelihood and its gradient in (r, alpha, a, b) at `params`."""
        return cls._likelihood_on(np.asarray(x, float), np.asarray(tx, float), np.asarray(T, float))(
            np.asarray(params, float))

    def fit(self, frequency, recency, T, weights=None) -> BetaGeoModel:
        """Maximum likelihood over all customers (no penalty). `weights` counts how many customers each row
        stands for (default one each). Raises ModelFitError with a plain message when no fit is possible."""
        x, tx, t_ = (_as_float(v, n) for v, n in ((frequency, "frequency"), (recency, "recency"), (T, "age T")))
        w = None if weights is None else _as_float(weights, "weight")
        if np.any(x < 0) or np.any(tx < 0) or np.any(tx > t_) or (w is not None and np.any(w < 0)):
            raise ModelFitError("Frequency, recency and age must be ≥ 0 with recency ≤ age for every customer.")
        x, tx, t_, counts, _ = _patterns(x, tx, t_, weights=w)
        if counts[x > 0].sum() < MIN_REPEATERS:
            raise ModelFitError(f"Too little repeat buying to fit BG/NBD: fewer than {MIN_REPEATERS} customers "
                                "bought more than once.")

        def objective_on(rows):
            cs = counts[rows]
            total = cs.sum()
            log_likelihood = self._likelihood_on(x[rows], tx[rows], t_[rows])

            def objective(log_params):
                params = np.exp(log_params)
                ll, grad = log_likelihood(params)
                return -(cs @ ll) / total, -(grad @ cs) * params / total

            return objective

        n = counts.sum()
        # Data-driven start: alpha/r = the mean time between purchases, with r = 1 and neutral a, b.
        mean_rate = float(counts @ x) / max(float(counts @ t_), 1e-9)
        start = np.array([1.0, float(np.clip(1.0 / max(mean_rate, 1e-9), 1e-3, 1e5)), 1.0, 1.0])
        start, hess_inv0 = _warm_start(objective_on, len(x), start, "BG/NBD")
        params, mean_ll = _fit_log_params(objective_on(slice(None)), start, "BG/NBD", hess_inv0)
        self.params_ = dict(zip(("r", "alpha", "a", "b"), map(float, params), strict=True))
        self.log_likelihood_ = mean_ll * n
        return self

    def _p(self):
        if not self.params_:
            raise ModelFitError("The BG/NBD model is not fitted yet.")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def conditional_probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(alive | x, t_x, T) = 1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)), from FHL's derivation of
        eq. (10) (written out in Fader, Hardie & Lee 2008, "Computing P(alive) Using the BG/NBD Model"), in
        logistic form so that a huge ratio gives 0, not an overflow."""
        r, alpha, a, b = self._p()
        x, tx, t_ = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        log_odds = (np.log(a) - np.log(np.maximum(b + x - 1, 1e-12))
                    + (r + x) * (np.log(alpha + t_) - np.log(alpha + tx)))
        return np.where(x > 0, np.exp(-np.logaddexp(0.0, log_odds)), 1.0)

    def expected_number_of_purchases_up_to_time(self, t) -> np.ndarray:
        """E[X(t)] for a customer just acquired (FHL eq. 9):
        (a+b−1)/(a−1) · [1 − (α/(α+t))^r · ₂F₁(r, b; a+b−1; t/(α+t))]."""
        r, alpha, a, b = self._p()
        t = np.asarray(t, dtype=float)
        return (a + b - 1) / (a - 1) * -np.expm1(r * np.log(alpha / (alpha + t))
                                                 + _log_hyp2f1(r, b, a + b - 1, t / (alpha + t)))

    def _body(self, t, x, T) -> np.ndarray:
        """1 − ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t)): the part of FHL eq. (10) that
        depends on (x, T) only, in log space."""
        r, alpha, a, b = self._p()
        z = t / (alpha + T + t)
        return -np.expm1((r + x) * np.log1p(-z) + _log_hyp2f1(r + x, b + x, a + b + x - 1, z))

    def conditional_expected_number_of_purchases_up_to_time(self, t, frequency, recency, T) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next t (FHL eq. 10)
        = (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))] · P(alive | x, t_x, T).
        Arguments broadcast against each other. For one horizon over many customers the hypergeometric term,
        which depends on (x, T) only, is evaluated once per distinct (x, T) pair."""
        t = np.asarray(t, dtype=float)
        if t.ndim == 0:
            return self._expected_grid(t[None], frequency, recency, T)[0]
        x, tx, t_, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (frequency, recency, T, t)))
        r, alpha, a, b = self._p()
        expected = (a + b + x - 1) / (a - 1) * self._body(t, x, t_) * self.conditional_probability_alive(x, tx, t_)
        return np.maximum(expected, 0.0)

    def _expected_grid(self, horizons: np.ndarray, frequency, recency, T) -> np.ndarray:
        """E[Y(t) | x, t_x, T] for every horizon (rows) and customer (columns), the (x, T) part once per pair."""
        r, alpha, a, b = self._p()
        x, tx, t_ = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (frequency, recency, T)))
        shape = x.shape
        x, tx, t_ = x.ravel(), tx.ravel(), t_.ravel()
        if x.size > 1000:
            px, pT, _, inverse = _patterns(x, t_)
        else:
            px, pT, inverse = x, t_, np.arange(x.size)
        body = self._body(np.asarray(horizons, dtype=float)[:, None], px, pT)[:, inverse]
        expected = (a + b + x - 1) / (a - 1) * body * self.conditional_probability_alive(x, tx, t_)
        return np.maximum(expected, 0.0).reshape((len(horizons), *shape))


def _log_hyp2f1(a, b, c, z) -> np.ndarray:
    """log ₂F₁(a, b; c; z) for 0 ≤ z < 1; where the series overflows (many purchases, a long horizon), Euler's
    transformation ₂F₁(a, b; c; z) = (1−z)^(c−a−b) ₂F₁(c−a, c−b; c; z) gives the same value in range."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        direct = np.log(hyp2f1(a, b, c, z))
        bad = ~np.isfinite(direct)
        if np.any(bad):
            euler = np.log(hyp2f1(c - a, c - b, c, z)) + (c - a - b) * np.log1p(-z)
            direct = np.where(bad, euler, direct)
    return direct


class GammaGammaModel:
    """The Gamma-Gamma model of spend per transaction: Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary
    Value" (after Colombo & Jiang 1999; FH below). A customer's transaction values are Gamma(p, ν) with
    ν ~ Gamma(q, v) across customers (parameters p, q and v for FH's γ); the mean m of x transactions then has
    the marginal density Γ(px+q) / (Γ(px) Γ(q)) · v^q m^(px−1) x^(px) / (v + x m)^(px+q), whose log is maximised
    over customers with x > 0 and m > 0 (L-BFGS-B on log-parameters, analytic gradient)."""

    def __init__(self) -> None:
        self.params_: dict[str, float] = {}
        self.log_likelihood_: float = float("nan")

    @staticmethod
    def _likelihood_on(x: np.ndarray, m: np.ndarray):
        """ℓ(p, q, v) per (x, m) pattern, the log of the marginal density of the mean spend m of x transactions
        Γ(px+q) / (Γ(px) Γ(q)) · v^q · m^(px−1) · x^(px) / (v + x·m)^(px+q), and its gradient; the gamma-function
        terms once per distinct x."""
        ux, xi = _unique(x)
        log_m, log_x, xm = np.log(m), np.log(x), x * m

        def log_likelihood(params: np.ndarray):
            p, q, v = params
            px = p * x
            log_xmv = np.log(xm + v)
            ll = ((gammaln(p * ux + q) - gammaln(p * ux))[xi] - gammaln(q) + q * np.log(v) + (px - 1) * log_m
                  + px * log_x - (px + q) * log_xmv)
            psi_pxq = digamma(p * ux + q)[xi]
            d_p = x * (psi_pxq - digamma(p * ux)[xi] + log_m + log_x - log_xmv)
            d_q = psi_pxq - digamma(q) + np.log(v) - log_xmv
            d_v = q / v - (px + q) / (xm + v)
            return ll, np.vstack([d_p, d_q, d_v])

        return log_likelihood

    def fit(self, frequency, monetary_value, weights=None) -> GammaGammaModel:
        """Fit on the customers with frequency > 0 and monetary value > 0 (the others carry no spend
        information). `weights` counts how many customers each row stands for. Raises ModelFitError."""
        x_all, m_all = _as_float(frequency, "frequency"), _as_float(monetary_value, "monetary value")
        w_all = np.ones_like(x_all) if weights is None else _as_float(weights, "weight")
        keep = (x_all > 0) & (m_all > 0) & (w_all > 0)
        if w_all[keep].sum() < MIN_REPEATERS:
            raise ModelFitError(f"Too little repeat buying to fit Gamma-Gamma: fewer than {MIN_REPEATERS} "
                                "customers with repeat purchases.")
        x, m, counts, _ = _patterns(x_all[keep], m_all[keep], weights=w_all[keep])
        n = counts.sum()

        def objective_on(rows):
            cs = counts[rows]
            total = cs.sum()
            log_likelihood = self._likelihood_on(x[rows], m[rows])

            def objective(log_params):
                params = np.exp(log_params)
                ll, grad = log_likelihood(params)
                return -(cs @ ll) / total, -(grad @ cs) * params / total

            return objective

        # Data-driven start: v/(q−1) per unit of p matches the mean spend with p = 1, q = 2.
        start = np.array([1.0, 2.0, max(float(np.average(m, weights=counts)), 1e-3)])
        start, hess_inv0 = _warm_start(objective_on, len(x), start, "Gamma-Gamma")
        params, mean_ll = _fit_log_params(objective_on(slice(None)), start, "Gamma-Gamma", hess_inv0)
        if params[1] <= 1:
            raise ModelFitError("The Gamma-Gamma fit gives q ≤ 1, so the expected spend is undefined.")
        self.params_ = dict(zip(("p", "q", "v"), map(float, params), strict=True))
        self.log_likelihood_ = mean_ll * n
        return self

    def conditional_expected_average_profit(self, frequency, monetary_value) -> np.ndarray:
        """E[M | x, m] = p(v + x·m) / (p·x + q − 1) (FH 2013, eq. 5): a weighted mean of the population mean
        p·v / (q − 1) and the customer's own m; for x = 0 the population mean itself."""
        if not self.params_:
            raise ModelFitError("The Gamma-Gamma model is not fitted yet.")
        p, q, v = (self.params_[k] for k in ("p", "q", "v"))
        x, m = np.asarray(frequency, dtype=float), np.asarray(monetary_value, dtype=float)
        return np.where(x > 0, p * (v + x * m) / (p * x + q - 1), p * v / (q - 1))


def clv_summary(orders: pl.DataFrame, as_of: datetime | date) -> pl.DataFrame:
    """frequency, recency, T and monetary value per customer at a day unit (METRICS.md §4; the same as
    lifetimes' summary_data_from_transaction_data with freq "D" and observation_period_end = the as_of date).
    With a non-null `margin` in the orders, also monetary_margin (mean margin per repeat purchase day)."""
    as_of_date = as_of.date() if isinstance(as_of, datetime) else as_of
    has_margin = "margin" in orders.columns and orders["margin"].is_not_null().any()
    schema = {"customer_id": pl.String, "frequency": pl.Int64, "recency": pl.Float64, "T": pl.Float64,
              "monetary_value": pl.Float64, **({"monetary_margin": pl.Float64} if has_margin else {})}
    daily = (orders.filter(pl.col("timestamp").dt.date() <= as_of_date)
             .group_by("customer_id", pl.col("timestamp").dt.date().alias("day"))
             .agg(pl.col("revenue").sum(), *([pl.col("margin").sum()] if has_margin else [])))
    repeat = pl.col("day") != pl.col("day").min()
    aggs = [
        (pl.len() - 1).cast(pl.Int64).alias("frequency"),
        (pl.col("day").max() - pl.col("day").min()).dt.total_days().cast(pl.Float64).alias("recency"),
        (pl.lit(as_of_date) - pl.col("day").min()).dt.total_days().cast(pl.Float64).alias("T"),
        pl.col("revenue").filter(repeat).mean().fill_null(0.0).alias("monetary_value"),
    ]
    if has_margin:
        aggs.append(pl.col("margin").filter(repeat).mean().fill_null(0.0).alias("monetary_margin"))
    return daily.group_by("customer_id").agg(aggs).sort("customer_id").cast(schema)


def discounted_purchases(bg: BetaGeoModel, frequency, recency, T, horizon_months: int, discount_rate: float):
    """(Σ_{i=1..H} [E(30·i) − E(30·(i−1))] / (1 + d)^i, E(30·H)) per customer: the purchases of each 30-day month
    ahead, discounted monthly (METRICS.md §4), and the undiscounted total.
    E(t) = (a+b+x−1)/(a−1) · body(t; x, T) · P(alive | x, t_x, T) (FHL eq. 10), so the discounted sum over months
    is the customer's factor times the discounted sum of body's monthly steps, which depends on (x, T) alone:
    the hypergeometric terms run once per distinct (x, T) and month, the rest once per (x, t_x, T)."""
    r, alpha, a, b = bg._p()
    x, tx, t_ = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    ux, utx, uT, _, inverse = _patterns(x, tx, t_)
    px, pT, _, pair = _patterns(ux, uT)
    body = bg._body((np.arange(horizon_months + 1) * 30.0)[:, None], px, pT)
    discount = (1.0 + discount_rate) ** -np.arange(1, horizon_months + 1)
    factor = (a + b + ux - 1) / (a - 1) * bg.conditional_probability_alive(ux, utx, uT)
    discounted = np.maximum(factor * (discount @ np.diff(body, axis=0))[pair], 0.0)
    expected = np.maximum(factor * body[-1][pair], 0.0)
    return discounted[inverse], expected[inverse], inverse, (ux, utx, uT)


def predict_clv(summary: pl.DataFrame, horizon_months: int = 12, discount_rate: float = 0.01):
    """Fit both models on `summary` (clv_summary's frame) and predict per customer: p_alive,
    expected_purchases (30·H days), expected_aov and predicted_clv = Σ_{i=1..H} [E(30·i) − E(30·(i−1))] ·
    expected_aov / (1 + d)^i (METRICS.md §4), plus predicted_clv_margin when the summary has monetary_margin.
    Returns (the report's `clv` entry, per-customer frame); on failure ({"error": plain sentence}, None)."""
    if summary.is_empty():
        return {"error": "No customer has an order yet, so there is nothing to predict. Historical CLV only."}, None
    if horizon_months < 1 or discount_rate <= -1:
        return {"error": "The CLV horizon must be at least one month and the discount rate above −100 %."}, None
    x, tx, T = (summary[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    m = summary["monetary_value"].to_numpy().astype(float)
    try:
        bg = BetaGeoModel().fit(x, tx, T)
        gg = GammaGammaModel().fit(x, m)
        return _predictions(bg, gg, summary, horizon_months, discount_rate)
    except ModelFitError as exc:
        return {"error": f"{exc} Historical CLV only."}, None


def _predictions(bg: BetaGeoModel, gg: GammaGammaModel, summary: pl.DataFrame, horizon_months: int,
                 discount_rate: float):
    """The per-customer predictions of fitted models and the report's `clv` entry."""
    x, tx, T = (summary[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    m = summary["monetary_value"].to_numpy().astype(float)
    discounted, expected, inverse, (ux, utx, uT) = discounted_purchases(bg, x, tx, T, horizon_months,
                                                                         discount_rate)
    # Gamma-Gamma describes positive spend; a customer whose refunds outweigh their purchases (negative mean)
    # would get a negative expected order, so expected spend is floored at 0: a CLV is never negative.
    aov = np.maximum(gg.conditional_expected_average_profit(x, m), 0.0)
    out = summary.select("customer_id").with_columns(
        pl.Series("p_alive", bg.conditional_probability_alive(ux, utx, uT)[inverse]),
        pl.Series("expected_purchases", expected),
        pl.Series("expected_aov", aov),
        pl.Series("predicted_clv", discounted * aov),
    )
    if not np.all(np.isfinite(out.select(pl.exclude("customer_id")).to_numpy())):
        raise ModelFitError("The predictions are not finite for these data.")
    result = {
        "bgnbd": bg.params_, "gamma_gamma": gg.params_, "horizon_months": horizon_months,
        "discount_rate": discount_rate, "avg_predicted_clv": float(out["predicted_clv"].mean()),
        "log_likelihood": bg.log_likelihood_,
    }
    if "monetary_margin" in summary.columns:
        mm = summary["monetary_margin"].fill_null(0.0).to_numpy().astype(float)
        try:
            margin = GammaGammaModel().fit(x, mm)
        except ModelFitError as exc:
            result["margin_error"] = f"{exc} No predicted margin."
        else:
            aov_margin = np.maximum(margin.conditional_expected_average_profit(x, mm), 0.0)
            out = out.with_columns(pl.Series("predicted_clv_margin", discounted * aov_margin))
            result["gamma_gamma_margin"] = margin.params_
            result["avg_predicted_clv_margin"] = float(out["predicted_clv_margin"].mean())
    return result, out
