"""Section 1: sessions, per-channel conversion and funnels, from the engine's rollups."""

from __future__ import annotations

import polars as pl

from omni_metrics.schema import STAGES


def ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den, null where den is 0 or null (METRICS.md: a division by zero gives null)."""
    return pl.when(den.fill_null(0) != 0).then(num / den).otherwise(None)


def div(num, den):
    """The scalar twin of `ratio`."""
    return None if den in (None, 0) or num is None else num / den


def sessions(t: pl.DataFrame, gap_minutes: int = 30) -> pl.DataFrame:
    """One row per session (customer_id, channel of its first touch, converts): the plain polars definition
    of §1 that the engine's narwhals rollup is tested against. `t` is ordered touches with `touch_seq`."""
    named = t.filter(pl.col("session_id").is_not_null()).group_by("customer_id", "session_id").agg(
        pl.col("channel").sort_by("touch_seq").first(), (pl.col("event_type") == "purchase").any().alias("converts"),
    ).select("customer_id", "channel", "converts")
    without = t.filter(pl.col("session_id").is_null()).sort("customer_id", "channel", "touch_seq")
    gap = pl.col("timestamp").diff().over("customer_id", "channel")
    # exactly `gap_minutes` stays in the session; a new one starts only when the gap exceeds it
    without = without.with_columns(
        (gap.is_null() | (gap > pl.duration(minutes=gap_minutes))).cum_sum().over("customer_id", "channel")
        .alias("session_nr"))
    derived = without.group_by("customer_id", "channel", "session_nr").agg(
        (pl.col("event_type") == "purchase").any().alias("converts")).select("customer_id", "channel", "converts")
    return pl.concat([named, derived])


def conversion_rates(table: pl.DataFrame) -> pl.DataFrame:
    """session_conversion_rate and customer_conversion_rate of a frame with the §1 counts."""
    return table.with_columns(
        *(pl.col(c).fill_null(0).cast(pl.Int64) for c in ("sessions", "converting_sessions", "visitors", "buyers")),
    ).with_columns(
        ratio(pl.col("converting_sessions"), pl.col("sessions")).alias("session_conversion_rate"),
        ratio(pl.col("buyers"), pl.col("visitors")).alias("customer_conversion_rate"),
    )


def funnel(best: pl.DataFrame) -> pl.DataFrame:
    """The funnel (channel, stage, customers, rate_from_previous) from customers per best stage reached
    (engine.funnel_best): a customer reaches a stage on a channel when a touch there is at that stage or a
    later one, so each stage counts the customers whose best stage is it or beyond. Overall rows have channel
    null and come last; the first stage's rate_from_previous is null."""
    if best.is_empty():
        return pl.DataFrame(schema={"channel": pl.String, "stage": pl.String, "customers": pl.Int64,
                                    "rate_from_previous": pl.Float64})
    ranks = pl.DataFrame({"rank": list(range(len(STAGES))), "stage": list(STAGES)},
                         schema={"rank": pl.Int64, "stage": pl.String})
    grid = best.select("channel").unique().join(ranks, how="cross")
    reached = grid.join(best, on="channel", how="left", nulls_equal=True).group_by("channel", "rank", "stage").agg(
        pl.col("customers").filter(pl.col("stage_rank").cast(pl.Int64) >= pl.col("rank")).sum())
    out = reached.sort(pl.col("channel").is_null(), "channel", "rank")
    return out.with_columns(
        ratio(pl.col("customers").cast(pl.Float64), pl.col("customers").shift(1).over("channel"))
        .alias("rate_from_previous")
    ).select("channel", "stage", pl.col("customers").cast(pl.Int64), "rate_from_previous")
