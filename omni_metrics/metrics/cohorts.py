"""Section 3: the cohort grid, period retention and churn rates, and the repeat purchase rate."""

from __future__ import annotations

import polars as pl

from omni_metrics.engine import period_label, pl_period_index
from omni_metrics.metrics.conversion import div, ratio

COHORT_SCHEMA = {"cohort": pl.String, "offset": pl.Int64, "size": pl.Int64, "active": pl.Int64,
                 "retention": pl.Float64, "revenue": pl.Float64, "partial": pl.Boolean}
RETENTION_SCHEMA = {"period": pl.String, "retention_rate": pl.Float64, "churn_rate": pl.Float64}


def cohort_grid(activity: pl.DataFrame | None, first: pl.DataFrame, period: str,
                as_of_period: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cohorts, retention_rate) from the per-customer-period order activity (customer_id, p, revenue) and each
    buyer's first order (customer_id, first_order).

    Cell (g, k) exists for g + k up to the as_of period, is `partial` in it, and exists with 0 active
    customers; period t's retention rate is the share of period t−1's buyers who bought again in t (null when
    t−1 had none), listed from the period after the first period with an order through the as_of period.
    """
    if activity is None or activity.is_empty():
        return pl.DataFrame(schema=COHORT_SCHEMA), pl.DataFrame(schema=RETENTION_SCHEMA)
    o = activity.join(first.select("customer_id", pl_period_index(pl.col("first_order"), period).alias("g")),
                      on="customer_id")
    sizes = o.filter(pl.col("p") == pl.col("g")).group_by("g").agg(pl.len().alias("size"))
    cells = o.group_by("g", (pl.col("p") - pl.col("g")).alias("offset")).agg(
        pl.len().alias("active"), pl.col("revenue").sum())  # one activity row per customer and period
    grid = sizes.with_columns(pl.int_ranges(0, as_of_period - pl.col("g") + 1, dtype=pl.Int64).alias("offset")) \
        .explode("offset")
    grid = grid.join(cells, on=["g", "offset"], how="left").with_columns(
        pl.col("active").fill_null(0).cast(pl.Int64), pl.col("revenue").fill_null(0.0),
        (pl.col("g") + pl.col("offset") == as_of_period).alias("partial"),
        period_label(pl.col("g"), period).alias("cohort"), pl.col("size").cast(pl.Int64),
        pl.col("offset").cast(pl.Int64),
    ).with_columns((pl.col("active") / pl.col("size")).alias("retention")).sort("g", "offset")
    cohorts = grid.select(*COHORT_SCHEMA)

    periods = pl.DataFrame({"p": list(range(int(o["p"].min()) + 1, as_of_period + 1))}, schema={"p": pl.Int64})
    base = o.group_by((pl.col("p") + 1).alias("p")).agg(pl.len().alias("before"))
    # kept in t: a buyer of t whose previous period with an order is t − 1 (one activity row per buyer and period)
    buyers = o.select("customer_id", "p").sort("customer_id", "p")
    again = (pl.col("customer_id") == pl.col("customer_id").shift(1)) & (pl.col("p") == pl.col("p").shift(1) + 1)
    kept = buyers.filter(again.fill_null(False)).group_by("p").agg(pl.len().alias("kept"))
    rates = periods.join(base, on="p", how="left").join(kept, on="p", how="left").with_columns(
        ratio(pl.col("kept").fill_null(0).cast(pl.Float64), pl.col("before")).alias("retention_rate"))
    retention = rates.sort("p").select(period_label(pl.col("p"), period).alias("period"), "retention_rate",
                                       (1 - pl.col("retention_rate")).alias("churn_rate"))
    return cohorts, retention


def repeat_purchase_rate(facts: pl.DataFrame) -> float | None:
    """Customers with ≥ 2 orders / customers with ≥ 1 order."""
    # counts of one column, not filtered copies of the whole per-customer table
    repeat, buyers = facts.select((pl.col("orders") >= 2).sum().alias("repeat"),
                                  (pl.col("orders") >= 1).sum().alias("buyers")).row(0)
    return div(repeat, buyers)
