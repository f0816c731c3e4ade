"""Churn risk (METRICS.md §6): who is about to stop buying, from a simple, explainable scikit-learn model."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

SEED = 0
MIN_HISTORY_DAYS = 90
MIN_ELIGIBLE = 50
# Counts and durations are skewed: the model sees log1p of them, so 100 days vs 200 weighs like 10 vs 20.
FEATURES = (
    "days_since_last_order", "orders", "revenue", "aov", "tenure_days", "distinct_channels", "touches_30",
    "touches_90", "days_since_last_touch", "cart_abandons_90", "days_since_cart_abandon", "support_contacts_90",
    "returns_90", "ever_unsubscribed", "last_nps", "has_nps",
)
NO_EVENT_DAYS = 365.0  # "days since" for something that never happened: as long ago as a year


def _days_before(cutoff: datetime, column: str) -> pl.Expr:
    return (pl.lit(cutoff) - pl.col(column)).dt.total_seconds() / 86_400


def churn_features(touches: pl.DataFrame, orders: pl.DataFrame, surveys: pl.DataFrame | None,
                   cutoff: datetime) -> pl.DataFrame:
    """One row per customer with ≥ 1 order on or before `cutoff`, using only data on or before it.
    The same function builds the training, validation and scoring features. The touches' side (millions of
    rows: counts, latest times, distinct channels, exact in any order) is one lazy query run by polars'
    streaming engine, in small batches: faster than eager steps, and a report the reader waits for while the
    dashboard computes this in the background gets its share of the cores (beside eager steps it took several
    times as long). The orders' and surveys' sides (a float sum, a last score) are eager, in one fixed order:
    the same features, and so the same model, on every run."""
    o = orders.filter(pl.col("timestamp") <= cutoff)
    t = touches.lazy().filter(pl.col("timestamp") <= cutoff)
    recent = {d: pl.col("timestamp") > cutoff - timedelta(days=d) for d in (30, 90)}
    event = pl.col("event_type")
    per = o.group_by("customer_id").agg(
        pl.col("timestamp").max().alias("last_order"), pl.col("timestamp").min().alias("first_order"),
        pl.len().cast(pl.Float64).alias("orders"), pl.col("revenue").sum().alias("revenue"),
    )
    activity = t.group_by("customer_id").agg(
        recent[30].sum().cast(pl.Float64).alias("touches_30"), recent[90].sum().cast(pl.Float64).alias("touches_90"),
        pl.col("timestamp").max().alias("last_touch"),
        ((event == "cart_abandon") & recent[90]).sum().cast(pl.Float64).alias("cart_abandons_90"),
        pl.col("timestamp").filter(event == "cart_abandon").max().alias("last_cart_abandon"),
        (event.is_in(["support_contact", "complaint"]) & recent[90]).sum().cast(pl.Float64)
        .alias("support_contacts_90"),
        ((event == "return_request") & recent[90]).sum().cast(pl.Float64).alias("returns_90"),
        (event == "unsubscribe").any().cast(pl.Float64).alias("ever_unsubscribed"),
    )
    channels = (pl.concat([t.select("customer_id", "channel"), o.lazy().select("customer_id", "channel")])
                .group_by("customer_id").agg(pl.col("channel").n_unique().cast(pl.Float64)
                                             .alias("distinct_channels")))
    frame = per.lazy().join(activity, on="customer_id", how="left").join(channels, on="customer_id", how="left")
    if surveys is not None and surveys.height:
        nps = (surveys.filter((pl.col("survey_type") == "nps") & pl.col("customer_id").is_not_null()
                              & (pl.col("timestamp") <= cutoff))
               .sort("timestamp").group_by("customer_id").agg(pl.col("score").last().cast(pl.Float64)
                                                              .alias("last_nps")))
        frame = frame.join(nps.lazy(), on="customer_id", how="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("last_nps"))
    return frame.select(
        "customer_id",
        _days_before(cutoff, "last_order").alias("days_since_last_order"),
        "orders", "revenue", (pl.col("revenue") / pl.col("orders")).alias("aov"),
        _days_before(cutoff, "first_order").alias("tenure_days"),
        pl.col("distinct_channels").fill_null(1.0),
        *(pl.col(c).fill_null(0.0) for c in ("touches_30", "touches_90")),
        _days_before(cutoff, "last_touch").fill_null(_days_before(cutoff, "last_order"))
        .alias("days_since_last_touch"),
        pl.col("cart_abandons_90").fill_null(0.0),
        _days_before(cutoff, "last_cart_abandon").fill_null(NO_EVENT_DAYS).clip(upper_bound=NO_EVENT_DAYS)
        .alias("days_since_cart_abandon"),
        *(pl.col(c).fill_null(0.0) for c in ("support_contacts_90", "returns_90", "ever_unsubscribed")),
        # An unknown score sits at the scale's middle; has_nps tells the model whether it is real.
        pl.col("last_nps").fill_null(5.0), pl.col("last_nps").is_not_null().cast(pl.Float64).alias("has_nps"),
    ).sort("customer_id").collect(engine="streaming")


def labels(orders: pl.DataFrame, features: pl.DataFrame, cutoff: datetime, horizon_days: int) -> np.ndarray:
    """churned = no order in (cutoff, cutoff + H] for each eligible customer (rows of `features`)."""
    later = orders.filter((pl.col("timestamp") > cutoff)
                          & (pl.col("timestamp") <= cutoff + timedelta(days=horizon_days)))
    bought = features.select("customer_id").join(later.select("customer_id").unique().with_columns(
        pl.lit(True).alias("bought")), on="customer_id", how="left")
    return (~bought["bought"].fill_null(False)).to_numpy().astype(int)


def _matrix(features: pl.DataFrame) -> np.ndarray:
    return features.select(FEATURES).to_numpy().astype(float)


def _model():
    return make_pipeline(
        FunctionTransformer(lambda x: np.log1p(np.clip(x, 0, None)), feature_names_out="one-to-one"),
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=2000, random_state=SEED),
    )


def _reasons(model, x: np.ndarray, features: pl.DataFrame, top: int = 3) -> list[str]:
    """The features that push each customer's score up most: coefficient × (standardised value − mean)."""
    scaled = model[:-1].transform(x)
    push = scaled * model[-1].coef_[0]
    order = np.argsort(-push, axis=1)[:, :top]
    rows = features.select(FEATURES).rows()
    out = []
    for i, picks in enumerate(order):
        words = [_in_words(FEATURES[j], rows[i][j]) for j in picks if push[i, j] > 0]
        out.append(", ".join(w for w in words if w))
    return out


def _in_words(feature: str, value: float) -> str:
    v = int(round(value))
    return {
        "days_since_last_order": f"no order for {v} days",
        "orders": f"only {v} order{'s' if v != 1 else ''}",
        "revenue": f"spent {value:,.0f} in total",
        "aov": f"average order {value:,.0f}",
        "tenure_days": f"customer for {v} days",
        "distinct_channels": f"uses {v} channel{'s' if v != 1 else ''}",
        "touches_30": f"{v} touches in the last 30 days",
        "touches_90": f"only {v} touches in the last 90 days" if v else "no touches in the last 90 days",
        "days_since_last_touch": f"no contact for {v} days",
        "cart_abandons_90": f"{v} abandoned cart{'s' if v != 1 else ''} in 90 days",
        "days_since_cart_abandon": f"abandoned a cart {v} days ago" if value < NO_EVENT_DAYS else "",
        "support_contacts_90": f"{v} support contact{'s' if v != 1 else ''}",
        "returns_90": f"{v} return request{'s' if v != 1 else ''}",
        "ever_unsubscribed": "unsubscribed from email" if value else "",
        "last_nps": f"last NPS score {v}",
        "has_nps": "",
    }[feature]


def churn_risk(touches: pl.DataFrame, orders: pl.DataFrame, surveys: pl.DataFrame | None, as_of: datetime,
               horizon_days: int = 90, high: float = 0.6, medium: float = 0.3):
    """Validate in time, train at as_of − H, score at as_of. Returns (the report's `churn` entry,
    frame[customer_id, churn_risk, risk_band, risk_reasons]) — the frame None when there is no model."""
    orders = orders.filter(pl.col("timestamp") <= as_of)
    if orders.is_empty():
        return {"error": "No orders yet, so there is no one whose churn risk could be scored."}, None
    history = (as_of.date() - orders["timestamp"].min().date()).days
    notice = None
    if history < MIN_HISTORY_DAYS:
        return {"error": f"Churn risk needs at least {MIN_HISTORY_DAYS} days of order history; these data "
                         f"cover {history}."}, None
    if history < 2 * horizon_days + 30:
        shorter = history // 3
        notice = (f"The order history ({history} days) is too short for a {horizon_days}-day horizon: "
                  f"using {shorter} days instead.")
        horizon_days = shorter
    h = timedelta(days=horizon_days)
    train_cut, valid_cut = as_of - 2 * h, as_of - h
    train = churn_features(touches, orders, surveys, train_cut)
    valid = churn_features(touches, orders, surveys, valid_cut)
    y_train = labels(orders, train, train_cut, horizon_days)
    y_valid = labels(orders, valid, valid_cut, horizon_days)
    for name, y in (("training", y_train), ("validation", y_valid)):
        if len(y) < MIN_ELIGIBLE or y.min() == y.max():
            return {"error": f"Too few customers, or only one outcome, at the {name} cutoff to fit a churn "
                             "model."}, None
    model = _model().fit(_matrix(train), y_train)
    p_valid = model.predict_proba(_matrix(valid))[:, 1]
    baseline = roc_auc_score(y_valid, valid["days_since_last_order"].to_numpy())
    # The final model learns from the most recent complete horizon and scores everyone at as_of.
    final = _model().fit(_matrix(valid), y_valid)
    now = churn_features(touches, orders, surveys, as_of)
    risk = final.predict_proba(_matrix(now))[:, 1]
    band = np.where(risk >= high, "high", np.where(risk >= medium, "medium", "low"))
    reasons: list[str | None] = [None] * len(risk)
    is_high = band == "high"
    if is_high.any():
        for i, text in zip(np.flatnonzero(is_high), _reasons(final, _matrix(now)[is_high],
                                                             now.filter(pl.Series(is_high))), strict=True):
            reasons[i] = text
    frame = now.select("customer_id").with_columns(
        pl.Series("churn_risk", risk), pl.Series("risk_band", band), pl.Series("risk_reasons", reasons,
                                                                                dtype=pl.String))
    result = {
        "horizon_days": horizon_days, "model": "logistic regression (log1p, standardised)",
        "roc_auc": float(roc_auc_score(y_valid, p_valid)),
        "average_precision": float(average_precision_score(y_valid, p_valid)),
        "brier": float(brier_score_loss(y_valid, p_valid)), "baseline_roc_auc": float(baseline),
        "at_risk": {b: int((band == b).sum()) for b in ("high", "medium", "low")},
        "labels": {"train": {"eligible": len(y_train), "churned": int(y_train.sum())},
                   "validation": {"eligible": len(y_valid), "churned": int(y_valid.sum())}},
        "coefficients": dict(zip(FEATURES, map(float, final[-1].coef_[0]), strict=True)),
    }
    if notice:
        result["notice"] = notice
    return result, frame
