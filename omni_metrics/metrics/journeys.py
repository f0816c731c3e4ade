"""Section 8: journeys (channels in touch order, repeats collapsed), the Sankey links, and the channel mix."""

from __future__ import annotations

import polars as pl

from omni_metrics.metrics.nps import nps_exprs

TOP_JOURNEYS = 50
SANKEY_STEPS = 5


def journeys(facts: pl.DataFrame, top: int = TOP_JOURNEYS) -> pl.DataFrame:
    """path, customers, converted_share (customers with a purchase touch), avg_revenue (over all the path's
    customers, zeros included): the `top` most common journeys, ties by path text. Customers with orders but no
    touch have no journey."""
    return (facts.select("journey", "converted", "revenue").filter(pl.col("journey").is_not_null())
            .group_by(pl.col("journey").alias("path"))
            .agg(pl.len().cast(pl.Int64).alias("customers"),
                 pl.col("converted").fill_null(False).mean().alias("converted_share"),
                 pl.col("revenue").fill_null(0).mean().alias("avg_revenue"))
            .sort(["customers", "path"], descending=[True, False])
            .head(top))


def sankey(facts: pl.DataFrame, steps: int = SANKEY_STEPS) -> pl.DataFrame:
    """step, source, target, customers: moves from journey step `step` to the next, over the first `steps`."""
    moves = facts.select("steps").filter(pl.col("steps").list.len() >= 2)
    links = [moves.select(pl.lit(k, pl.Int64).alias("step"), pl.col("steps").list.get(k - 1, null_on_oob=True)
                          .alias("source"), pl.col("steps").list.get(k, null_on_oob=True).alias("target"))
             .filter(pl.col("target").is_not_null()) for k in range(1, steps)]
    if not links:
        return pl.DataFrame(schema={"step": pl.Int64, "source": pl.String, "target": pl.String,
                                    "customers": pl.Int64})
    return (pl.concat(links).group_by("step", "source", "target")
            .agg(pl.len().cast(pl.Int64).alias("customers"))
            .sort(["step", "customers", "source", "target"], descending=[False, True, False, False]))


def channel_mix(facts: pl.DataFrame, surveys: pl.DataFrame | None) -> pl.DataFrame:
    """n_channels ("1", "2", "3+"), customers, avg_historical_clv (over buyers), repeat_purchase_rate, nps (only
    responses linked to a customer)."""
    group = (pl.when(pl.col("n_channels") >= 3).then(pl.lit("3+"))
             .otherwise(pl.col("n_channels").cast(pl.String)).alias("n_channels"))
    grouped = facts.filter(pl.col("n_channels").is_not_null()).with_columns(group)
    buyers = pl.col("orders") >= 1
    out = grouped.group_by("n_channels").agg(
        pl.len().cast(pl.Int64).alias("customers"),
        pl.col("revenue").filter(buyers).mean().alias("avg_historical_clv"),
        pl.when(buyers.sum() > 0).then((pl.col("orders") >= 2).sum() / buyers.sum()).alias("repeat_purchase_rate"),
    )
    if surveys is not None:
        linked = surveys.filter(pl.col("customer_id").is_not_null()).join(
            grouped.select("customer_id", "n_channels"), on="customer_id")
        out = out.join(linked.group_by("n_channels").agg(nps_exprs()[0]), on="n_channels", how="left")
    else:
        out = out.with_columns(pl.lit(None, pl.Float64).alias("nps"))
    return out.sort("n_channels")
