"""Section 2: new customers per acquisition channel, spend, CAC and ROAS."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from omni_metrics.metrics.conversion import ratio


def new_customers(facts: pl.DataFrame, start: datetime | None, as_of: datetime) -> pl.DataFrame:
    """channel, new_customers: customers whose first order (lifetime, up to as_of) is in [start, as_of] on that
    channel. `facts` has first_order and acquisition_channel per customer."""
    window = pl.col("first_order").is_not_null() & (pl.col("first_order") <= as_of)
    if start is not None:
        window &= pl.col("first_order") >= start
    return facts.select("first_order", "acquisition_channel").filter(window).group_by(
        pl.col("acquisition_channel").alias("channel")).agg(pl.len().cast(pl.Int64).alias("new_customers"))


def spend_by_channel(spend: pl.DataFrame) -> pl.DataFrame:
    return spend.group_by("channel").agg(pl.col("spend").sum())


def cac_roas(table: pl.DataFrame) -> pl.DataFrame:
    """cac = spend / new_customers, roas = revenue / spend; null on a zero or missing divisor. A channel with
    spend 0 and new customers has CAC 0; with no spend table, spend is null and so are both."""
    return table.with_columns(
        ratio(pl.col("spend"), pl.col("new_customers").cast(pl.Float64)).alias("cac"),
        ratio(pl.col("revenue"), pl.col("spend")).alias("roas"),
    )
