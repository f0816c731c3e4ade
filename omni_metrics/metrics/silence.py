"""Section 6, silence part: days silent, typical gap, the silent flag, and the silent-moment table with lift."""

from __future__ import annotations

import polars as pl

from omni_metrics.metrics.conversion import div


def add_silence(facts: pl.DataFrame, factor: float = 2.0, floor_days: float = 30) -> pl.DataFrame:
    """typical_gap and silent on the engine's facts (days_silent, active_days, own_gap = the median gap in days
    between consecutive active days).

    typical_gap is the customer's own median gap with ≥ 3 active days, else the median of those typical gaps
    (30 when nobody has 3 active days); silent = days_silent > max(factor · typical_gap, floor_days).
    """
    own = facts.select(pl.col("own_gap").filter(pl.col("active_days") >= 3))["own_gap"]
    fallback = float(own.median()) if own.len() else 30.0
    return facts.with_columns(
        pl.when(pl.col("active_days") >= 3).then(pl.col("own_gap")).otherwise(fallback).alias("typical_gap")
    ).with_columns(
        (pl.col("days_silent") > pl.max_horizontal(factor * pl.col("typical_gap"), pl.lit(float(floor_days))))
        .alias("silent"))


def silent_moments(facts: pl.DataFrame) -> pl.DataFrame:
    """last_touch_channel, last_touch_event, customers, silent, silent_share, lift: customers grouped by their
    last touch (customers with orders but no touch form the (null, null) group); lift = the group's silent
    share / the overall silent share (null when nobody is silent). Highest lift first."""
    overall_share = div(int(facts["silent"].sum() or 0), facts.height)
    return (facts.group_by("last_touch_channel", "last_touch_event")
            .agg(pl.len().cast(pl.Int64).alias("customers"), pl.col("silent").sum().cast(pl.Int64).alias("silent"))
            .with_columns((pl.col("silent") / pl.col("customers")).alias("silent_share"))
            .with_columns((pl.col("silent_share") / overall_share if overall_share else pl.lit(None, pl.Float64))
                          .alias("lift"))
            .sort(["lift", "customers", "last_touch_channel", "last_touch_event"],
                  descending=[True, True, False, False], nulls_last=True))
