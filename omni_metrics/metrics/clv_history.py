"""Section 4, historical part: lifetime revenue per customer and its averages, always over buyers."""

from __future__ import annotations

import polars as pl

from omni_metrics.metrics.conversion import div


def avg_historical_clv(facts: pl.DataFrame) -> float | None:
    """Mean total completed-order revenue up to as_of over buyers (customers with ≥ 1 order)."""
    return facts.select(pl.col("revenue").filter(pl.col("orders") > 0).mean()).item()


def clv_by(customers: pl.DataFrame, by: str) -> pl.DataFrame:
    """by, buyers, avg_historical_clv (and avg_predicted_clv when the model ran) per cohort, acquisition
    channel or number of channels, over buyers only."""
    columns = [by, "orders", "revenue", *(["predicted_clv"] if "predicted_clv" in customers.columns else [])]
    buyers = customers.select(columns).filter(pl.col("orders") > 0)
    key = pl.col(by).cast(pl.String) if by == "n_channels" else pl.col(by)
    aggs = [pl.len().cast(pl.Int64).alias("buyers"), pl.col("revenue").mean().alias("avg_historical_clv")]
    if "predicted_clv" in customers.columns:
        aggs.append(pl.col("predicted_clv").mean().alias("avg_predicted_clv"))
    return buyers.group_by(key.alias(by)).agg(aggs).sort(by)


def omnichannel_premium(facts: pl.DataFrame) -> float | None:
    """Average historical CLV of buyers with ≥ 2 channels / that of buyers with 1 (null when either is
    missing or the divisor is 0)."""
    buyer, revenue, n = pl.col("orders") > 0, pl.col("revenue"), pl.col("n_channels")
    multi, one = facts.select(revenue.filter(buyer & (n >= 2)).mean().alias("multi"),
                              revenue.filter(buyer & (n == 1)).mean().alias("one")).row(0)
    return div(multi, one)
