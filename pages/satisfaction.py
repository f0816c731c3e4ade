"""Satisfaction: NPS and CSAT by channel and over time with margins of error, the NPS split, detractors' words."""

from __future__ import annotations

import polars as pl
import streamlit as st

from omni_metrics import charts
from omni_metrics.i18n import MISSING
from pages._shared import download_csv, fmt_value, page_guard, view


def table(frame: pl.DataFrame, kinds: dict[str, str], file_name: str) -> None:
    st.dataframe(charts.with_channel_labels(frame, loc), hide_index=True, placeholder=MISSING,
                 column_config=charts.table_columns(loc, kinds), column_order=list(kinds))
    download_csv(frame.select(list(kinds)), file_name)


with page_guard():
    v = view()
    loc = v.loc
    st.title(loc.t("satisfaction.title"))
    st.caption(loc.t("satisfaction.caption", n=charts.SMALL_SAMPLE))
    if "surveys" not in v.tables:
        st.info(loc.t("satisfaction.no_surveys"))
        st.stop()
    overall = v.report.data["overall"]
    columns = st.columns(3)
    nps_text = fmt_value(loc, overall.get("nps"), "score")
    if overall.get("nps_moe") is not None:
        nps_text += f" ± {loc.number(overall['nps_moe'], 1)}"
    columns[0].metric(loc.t("metric.nps"), nps_text, help=loc.t("help.nps"), border=True)
    columns[1].metric(loc.t("metric.csat"), fmt_value(loc, overall.get("csat"), "score"), help=loc.t("help.csat"),
                      border=True)
    columns[2].metric(loc.t("metric.nps_responses"), fmt_value(loc, overall.get("nps_responses"), "count"),
                      border=True)

    channels = v.report.frames["channels"]
    nps = channels.filter(pl.col("nps_responses") > 0).rename({"nps_responses": "responses"}) \
        .sort("nps", descending=True)
    csat = channels.filter(pl.col("csat_responses") > 0).drop("nps_responses") \
        .rename({"csat_responses": "responses"}).sort("csat", descending=True)
    left, right = st.columns(2)
    left.plotly_chart(charts.score_with_moe(nps, loc, x="channel", value="nps", moe="nps_moe",
                                            title=loc.t("satisfaction.nps_channel_title")), width="stretch")
    right.plotly_chart(charts.score_with_moe(csat, loc, x="channel", value="csat", moe=None,
                                             title=loc.t("satisfaction.csat_channel_title")), width="stretch")

    by_period = v.report.frames["nps_by_period"]
    st.plotly_chart(charts.score_over_time(by_period, loc, value="nps", moe="nps_moe",
                                           title=loc.t("satisfaction.nps_time_title")), width="stretch")
    st.caption(loc.t("satisfaction.legend_hint"))
    st.plotly_chart(charts.score_over_time(by_period, loc, value="csat", moe=None,
                                           title=loc.t("satisfaction.csat_time_title")), width="stretch")
    st.plotly_chart(charts.nps_split(nps, loc, title=loc.t("satisfaction.split_title")), width="stretch")
    table(channels, {"channel": "text", "nps": "score", "nps_moe": "score", "nps_responses": "count",
                     "promoters": "rate", "passives": "rate", "detractors": "rate", "csat": "score",
                     "csat_responses": "count"}, "satisfaction_by_channel.csv")
    with st.expander(loc.t("satisfaction.by_period_table")):
        table(by_period, {"period": "text", "channel": "text", "nps": "score", "nps_moe": "score",
                          "responses": "count", "csat": "score", "csat_responses": "count"}, "nps_by_period.csv")

    st.subheader(loc.t("satisfaction.comments_header"))
    comments = v.report.frames["detractor_comments"]
    if comments.is_empty():
        st.info(loc.t("satisfaction.no_comments"))
    else:
        st.dataframe(charts.with_channel_labels(comments, loc), hide_index=True, placeholder=MISSING,
                     column_config={
                         "timestamp": st.column_config.DatetimeColumn(loc.t("metric.timestamp"),
                                                                      format=loc.datetime_format),
                         "channel": loc.t("metric.channel"), "score": loc.t("metric.score"),
                         "comment": st.column_config.TextColumn(loc.t("metric.comment"), width="large"),
                         "customer_id": loc.t("metric.customer_id")})
        download_csv(comments, "detractor_comments.csv")
