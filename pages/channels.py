"""Channels: sessions, conversion, funnels, orders, revenue, AOV, CAC and ROAS per channel."""

from __future__ import annotations

import polars as pl
import streamlit as st

from omni_metrics import charts
from omni_metrics.i18n import MISSING
from omni_metrics.schema import STAGES
from pages._shared import download_csv, page_guard, view

KINDS = {"channel": "text", "sessions": "count", "converting_sessions": "count", "session_conversion_rate": "rate",
         "visitors": "count", "buyers": "count", "customer_conversion_rate": "rate", "orders": "count",
         "revenue": "money", "aov": "money", "new_customers": "count", "spend": "money", "cac": "money",
         "roas": "ratio"}


def table(frame: pl.DataFrame, kinds: dict[str, str], file_name: str) -> None:
    shown = charts.with_channel_labels(frame, loc)
    if "stage" in shown.columns:  # stage names as the UI writes them; the download keeps the data's names
        shown = shown.with_columns(pl.col("stage").replace_strict(
            {s: loc.t(f"stage.{s}") for s in STAGES}, default=pl.col("stage"), return_dtype=pl.String))
    st.dataframe(shown, column_config=charts.table_columns(loc, kinds),
                 column_order=list(kinds), hide_index=True, placeholder=MISSING)
    download_csv(frame.select(list(kinds)), file_name)


with page_guard():
    v = view()
    loc = v.loc
    channels = v.report.frames["channels"]
    st.title(loc.t("channels.title"))
    st.caption(loc.t("channels.caption"))
    if "interactions" not in v.tables:
        st.info(loc.t("channels.no_interactions"))
    left, right = st.columns(2)
    left.plotly_chart(charts.by_channel(channels, loc, value="sessions", kind="count",
                                        title=loc.t("channels.sessions_title")), width="stretch")
    right.plotly_chart(charts.by_channel(channels, loc, value="customer_conversion_rate", kind="rate",
                                         title=loc.t("channels.conversion_title")), width="stretch")
    st.plotly_chart(charts.by_channel(channels, loc, value="session_conversion_rate", kind="rate",
                                      title=loc.t("channels.session_conversion_title")), width="stretch")

    st.subheader(loc.t("channels.funnel_header"))
    funnel = v.report.frames["funnel"]
    if not funnel.is_empty():
        picked = st.multiselect(loc.t("channels.funnel_channels"), channels["channel"].to_list(),
                                format_func=lambda c: charts.channel_label(loc, c), key="funnel_channels",
                                placeholder=loc.t("channels.funnel_all"))
        shown = funnel.filter(pl.col("channel").is_in(picked)) if picked else funnel.filter(
            pl.col("channel").is_not_null())
        st.plotly_chart(charts.funnel(shown, loc, title=loc.t("channels.funnel_title"), stages=STAGES),
                        width="stretch")
        table(funnel.sort(pl.col("channel").is_null(), "channel"),
              {"channel": "text", "stage": "text", "customers": "count", "rate_from_previous": "rate"},
              "funnel.csv")
    else:
        st.info(loc.t("channels.no_interactions"))

    st.subheader(loc.t("channels.sales_header"))
    if "orders" not in v.tables:
        st.info(loc.t("channels.no_orders"))
    else:
        left, right = st.columns(2)
        left.plotly_chart(charts.by_channel(channels, loc, value="orders", kind="count",
                                            title=loc.t("channels.orders_title")), width="stretch")
        right.plotly_chart(charts.by_channel(channels, loc, value="revenue", kind="money",
                                             title=loc.t("channels.revenue_title")), width="stretch")
        st.plotly_chart(charts.by_channel(channels, loc, value="aov", kind="money",
                                          title=loc.t("channels.aov_title")), width="stretch")
    if "spend" not in v.tables:
        st.info(loc.t("channels.no_spend"))
    elif "orders" in v.tables:
        left, right = st.columns(2)
        left.plotly_chart(charts.by_channel(channels, loc, value="cac", kind="money",
                                            title=loc.t("channels.cac_title")), width="stretch")
        right.plotly_chart(charts.by_channel(channels, loc, value="roas", kind="ratio",
                                             title=loc.t("channels.roas_title")), width="stretch")
    st.subheader(loc.t("channels.table_header"))
    table(channels, KINDS, "channels.csv")
