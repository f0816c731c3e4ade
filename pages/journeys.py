"""Journeys and attribution: how customers move between channels and how channels share the credit."""

from __future__ import annotations

import polars as pl
import streamlit as st

from omni_metrics import charts
from omni_metrics.i18n import MISSING
from pages._shared import download_csv, fmt_value, models_pending, page_guard, view

with page_guard():
    v = view()
    loc = v.loc
    st.title(loc.t("journeys.title"))
    st.caption(loc.t("journeys.caption"))
    if "interactions" not in v.tables:
        st.info(loc.t("journeys.no_interactions"))
    st.plotly_chart(charts.sankey(v.report.frames["sankey"], loc, title=loc.t("journeys.sankey_title")),
                    width="stretch")

    st.subheader(loc.t("journeys.top_header"))
    journeys = v.report.frames["journeys"]
    names = {c: charts.channel_label(loc, c) for c in (v.report.frames["channels"]["channel"].to_list())}
    shown = journeys.with_columns(pl.col("path").str.split(" > ").list.eval(
        pl.element().replace(names)).list.join(" → "))
    kinds = {"path": "text", "customers": "count", "converted_share": "rate", "avg_revenue": "money"}
    st.dataframe(shown, hide_index=True, placeholder=MISSING, column_config=charts.table_columns(loc, kinds),
                 column_order=list(kinds))
    download_csv(journeys, "journeys.csv")

    st.subheader(loc.t("journeys.mix_header"))
    mix = v.report.frames["channel_mix"]
    overall = v.report.data["overall"]
    columns = st.columns([1, 3])
    columns[0].metric(loc.t("metric.omnichannel_premium"),
                      fmt_value(loc, overall.get("omnichannel_premium"), "ratio") + "×"
                      if overall.get("omnichannel_premium") is not None else MISSING,
                      help=loc.t("help.omnichannel_premium"), border=True)
    labels = {n: loc.t("journeys.n_channels", n=n) for n in mix["n_channels"]}
    with columns[1]:
        st.plotly_chart(charts.grouped_bars(mix, loc, category="n_channels", values=["avg_historical_clv"],
                                            kind="money", title=loc.t("journeys.mix_title"),
                                            category_labels=labels), width="stretch")
    mix_kinds = {"n_channels": "text", "customers": "count", "avg_historical_clv": "money",
                 "repeat_purchase_rate": "rate", "nps": "score"}
    st.dataframe(mix, hide_index=True, placeholder=MISSING, column_config=charts.table_columns(loc, mix_kinds),
                 column_order=list(mix_kinds))
    download_csv(mix, "channel_mix.csv")

    st.subheader(loc.t("journeys.attribution_header"))
    st.caption(loc.t("journeys.attribution_caption", days=v.settings.lookback_days))
    attribution = v.report.data.get("attribution")
    if v.models_pending:
        models_pending(v)
    elif isinstance(attribution, dict) and "error" in attribution:
        st.info(loc.say(attribution["error"]))
    else:
        frame = v.report.frames["attribution"]
        tab_value, tab_conversions = st.tabs([loc.t("journeys.tab_value"), loc.t("journeys.tab_conversions")])
        with tab_value:
            st.plotly_chart(charts.attribution(frame, loc, value="value", title=loc.t("journeys.value_title")),
                            width="stretch")
        with tab_conversions:
            st.plotly_chart(charts.attribution(frame, loc, value="conversions",
                                               title=loc.t("journeys.conversions_title")), width="stretch")
        wide = frame.pivot(on="model", index="channel", values="value").select(
            "channel", *[m for m in charts.ATTRIBUTION_MODELS if m in frame["model"].unique().to_list()])
        wide_kinds = {"channel": "text", **{m: "money" for m in wide.columns[1:]}}
        st.dataframe(charts.with_channel_labels(wide, loc), hide_index=True, placeholder=MISSING,
                     column_config=charts.table_columns(loc, wide_kinds,
                                                        {m: loc.t(f"model.{m}") for m in wide.columns[1:]}),
                     column_order=list(wide_kinds))
        download_csv(frame, "attribution.csv")
