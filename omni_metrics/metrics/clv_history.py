"""Section 4, historical part: lifetime revenue per customer and its averages, always over buyers."""

from __future__ import annotations

import polars as pl

from omni_metrics.metrics.conversion import div


def avg_historical_clv(facts: pl.DataFrame) -> float | None:
    """Mean total completed-order revenue up to as_of over buyers (customers with ≥ 1 order)."""
    buyers = facts.filter(pl.col("orders") > 0)
    return buyers["revenue"].mean() if buyers.height else None


def clv_by(customers: pl.DataFrame, by: str) -> pl.DataFrame:
    """by, buyers, avg_historical_clv (and avg_predicted_clv when the model ran) per cohort, acquisition
    channel or number of channels, over buyers only."""
    buyers = customers.filter(pl.col("orders") > 0)
    key = pl.col(by).cast(pl.String) if by == "n_channels" else pl.col(by)
    aggs = [pl.len().cast(pl.Int64).alias("buyers"), pl.col("revenue").mean().alias("avg_historical_clv")]
    if "predicted_clv" in customers.columns:
        aggs.append(pl.col("predicted_clv").mean().alias("avg_predicted_clv"))
    return buyers.group_by(key.alias(by)).agg(aggs).sort(by)


def omnichannel_premium(facts: pl.DataFrame) -> float | None:
    """Average historical CLV of buyers with ≥ 2 channels / that of buyers with 1 (null when either is
    missing or the divisor is 0)."""
    buyers = facts.filter(pl.col("orders") > 0)
    multi = buyers.filter(pl.col("n_channels") >= 2)["revenue"].mean()
    one = buyers.filter(pl.col("n_channels") == 1)["revenue"].mean()
    return div(multi, one)
