"""Section 9: RFM scores as SQL NTILE(5) buckets (ties by customer id) and the segments of the (R, F) pair."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

SCORE_SCHEMA = {"customer_id": pl.String, "r": pl.Int8, "f": pl.Int8, "m": pl.Int8, "rfm_segment": pl.String}


def ntile(i: pl.Expr, n: int, buckets: int = 5) -> pl.Expr:
    """SQL NTILE(buckets) of the 0-based row number i among n rows: the first n mod buckets buckets hold one
    more row than the others."""
    q, extra = divmod(n, buckets)
    big = extra * (q + 1)
    return (pl.when(i < big).then(i // (q + 1)).otherwise(extra + (i - big) // max(q, 1)) + 1).cast(pl.Int8)


def segment(r: pl.Expr, f: pl.Expr) -> pl.Expr:
    """The METRICS.md §9 segment of an (R, F) pair; the ten patterns cover all 25 pairs."""
    return (pl.when((r == 5) & f.is_between(4, 5)).then(pl.lit("Champions"))
            .when(r.is_between(3, 4) & f.is_between(4, 5)).then(pl.lit("Loyal"))
            .when(r.is_between(4, 5) & f.is_between(2, 3)).then(pl.lit("Potential loyalists"))
            .when((r == 5) & (f == 1)).then(pl.lit("New customers"))
            .when((r == 4) & (f == 1)).then(pl.lit("Promising"))
            .when((r == 3) & (f == 3)).then(pl.lit("Need attention"))
            .when((r == 3) & f.is_between(1, 2)).then(pl.lit("About to sleep"))
            .when(r.is_between(1, 2) & (f == 5)).then(pl.lit("Cannot lose them"))
            .when(r.is_between(1, 2) & f.is_between(3, 4)).then(pl.lit("At risk"))
            .otherwise(pl.lit("Hibernating")))


def rfm_scores(buyers: pl.DataFrame, as_of_date: date) -> pl.DataFrame:
    """customer_id, r, f, m, rfm_segment for customers with ≥ 1 order (columns last_order, orders, revenue).

    R sorts the days since the last order (calendar days to the as_of date) descending, so the most recent get
    5; F the number of orders and M the revenue ascending; ties by customer_id ascending.
    """
    if buyers.is_empty():
        return pl.DataFrame(schema=SCORE_SCHEMA)
    n = buyers.height
    # in customer_id order (one customer a row), a stable sort on the score's column breaks its ties by id
    frame = buyers.select(
        "customer_id", (pl.lit(as_of_date) - pl.col("last_order").dt.date()).dt.total_days().alias("recency_days"),
        "orders", "revenue").sort("customer_id")
    scores = []
    for name, column, descending in (("r", "recency_days", True), ("f", "orders", False), ("m", "revenue", False)):
        order = frame.select(pl.arg_sort_by(column, descending=descending, maintain_order=True))[column].to_numpy()
        place = np.empty(n, dtype=np.int64)
        place[order] = np.arange(n)  # each row's 0-based place in the score's order
        scores.append(pl.select(ntile(pl.lit(pl.Series(place)), n)).to_series().alias(name))
    return frame.select("customer_id").with_columns(scores).with_columns(
        segment(pl.col("r"), pl.col("f")).alias("rfm_segment"))


def rfm_segments(customers: pl.DataFrame) -> pl.DataFrame:
    """segment, customers, avg_revenue; segments with no customer are not listed. Largest first."""
    return (customers.filter(pl.col("rfm_segment").is_not_null())
            .group_by(pl.col("rfm_segment").alias("segment"))
            .agg(pl.len().cast(pl.Int64).alias("customers"), pl.col("revenue").mean().alias("avg_revenue"))
            .sort(["customers", "segment"], descending=[True, False]))
