"""Section 5: NPS with its 95 % margin of error, and CSAT — per channel, per period and overall."""

from __future__ import annotations

import polars as pl

from omni_metrics.engine import period_label, pl_period_index

SMALL_SAMPLE = 30  # fewer NPS responses than this are flagged as a small sample


def nps_exprs() -> list[pl.Expr]:
    """Aggregations over survey responses: nps, nps_moe, nps_responses, csat, and the shares behind them.

    nps = 100·(P − D); nps_moe = 196·sqrt((P + D − (P − D)²)/n) with P, D the promoter (9–10) and detractor
    (0–6) shares of the n NPS responses; csat = 100 · share of CSAT responses scoring ≥ 4. An empty
    survey_type counts as NPS (DATA.md); other types are left out of both.
    """
    kind = pl.col("survey_type").fill_null("nps")
    nps = kind == "nps"
    score = pl.col("score")
    n = nps.sum()
    p = (nps & (score >= 9)).sum() / n
    d = (nps & (score <= 6)).sum() / n
    csat_n = (kind == "csat").sum()
    return [
        pl.when(n > 0).then(100 * (p - d)).alias("nps"),
        # the clip guards a rounding residue below 0 when every response is a promoter or a detractor
        pl.when(n > 0).then(196 * ((p + d - (p - d) ** 2).clip(lower_bound=0) / n).sqrt()).alias("nps_moe"),
        n.cast(pl.Int64).alias("nps_responses"),
        pl.when(csat_n > 0).then(100 * ((kind == "csat") & (score >= 4)).sum() / csat_n).alias("csat"),
        pl.when(n > 0).then(p).alias("promoters"),
        pl.when(n > 0).then(1 - p - d).alias("passives"),
        pl.when(n > 0).then(d).alias("detractors"),
        csat_n.cast(pl.Int64).alias("csat_responses"),
        (n < SMALL_SAMPLE).alias("small_sample"),
    ]


def by_channel(surveys: pl.DataFrame) -> pl.DataFrame:
    return surveys.group_by("channel").agg(nps_exprs())


def overall(surveys: pl.DataFrame) -> dict:
    return surveys.select(nps_exprs()).row(0, named=True)


def nps_by_period(surveys: pl.DataFrame | None, period: str) -> pl.DataFrame:
    """period, channel, nps, nps_moe, responses (+ csat, shares, small_sample): per channel, plus rows with
    channel null for all responses of the period; periods or channels without an NPS response are left out."""
    columns = {"period": pl.String, "channel": pl.String, "nps": pl.Float64, "nps_moe": pl.Float64,
               "responses": pl.Int64, "csat": pl.Float64, "csat_responses": pl.Int64, "promoters": pl.Float64,
               "passives": pl.Float64, "detractors": pl.Float64, "small_sample": pl.Boolean}
    if surveys is None or surveys.is_empty():
        return pl.DataFrame(schema=columns)
    sp = surveys.with_columns(period_label(pl_period_index(pl.col("timestamp"), period), period).alias("period"))
    per_channel = sp.group_by("period", "channel").agg(nps_exprs())
    per_all = sp.group_by("period").agg(nps_exprs()).with_columns(pl.lit(None, pl.String).alias("channel"))
    return (pl.concat([per_channel, per_all.select(per_channel.columns)])
            .filter(pl.col("nps_responses") > 0)
            .sort("period", pl.col("channel").is_null(), "channel")
            .rename({"nps_responses": "responses"}).select(list(columns)))


def detractor_comments(surveys: pl.DataFrame | None) -> pl.DataFrame:
    """The detractors' comments, newest first (for the Satisfaction page)."""
    schema = {"timestamp": pl.Datetime("us"), "channel": pl.String, "score": pl.Int64, "comment": pl.String,
              "customer_id": pl.String}
    if surveys is None:
        return pl.DataFrame(schema=schema)
    return (surveys.filter((pl.col("survey_type").fill_null("nps") == "nps") & (pl.col("score") <= 6)
                           & pl.col("comment").is_not_null())
            .sort("timestamp", descending=True).select(list(schema)))
