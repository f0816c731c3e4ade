"""Customer value: historical and predicted CLV by cohort, acquisition channel and number of channels; RFM."""

from __future__ import annotations

import polars as pl
import streamlit as st

from omni_metrics import charts
from omni_metrics.i18n import MISSING
from pages._shared import download_csv, fmt_value, models_pending, page_guard, view


def table(frame: pl.DataFrame, kinds: dict[str, str], file_name: str, labels: dict[str, str] | None = None) -> None:
    st.dataframe(charts.with_channel_labels(frame, loc), hide_index=True, placeholder=MISSING,
                 column_config=charts.table_columns(loc, kinds, labels), column_order=list(kinds))
    download_csv(frame.select(list(kinds)), file_name)


with page_guard():
    v = view()
    loc = v.loc
    st.title(loc.t("value.title"))
    st.caption(loc.t("value.caption"))
    if "orders" not in v.tables:
        st.info(loc.t("value.no_orders"))
        st.stop()
    overall = v.report.data["overall"]
    clv = v.report.data.get("clv") or {}
    customers = v.report.customers
    columns = st.columns(3)
    columns[0].metric(loc.t("metric.avg_historical_clv"), fmt_value(loc, overall.get("avg_historical_clv"), "money"),
                      help=loc.t("help.avg_historical_clv"), border=True)
    columns[1].metric(loc.t("metric.avg_predicted_clv"), fmt_value(loc, clv.get("avg_predicted_clv"), "money"),
                      help=loc.t("help.avg_predicted_clv", months=clv.get("horizon_months", MISSING)), border=True)
    premium = overall.get("omnichannel_premium")
    columns[2].metric(loc.t("metric.omnichannel_premium"),
                      fmt_value(loc, premium, "ratio") + ("×" if premium is not None else ""),
                      help=loc.t("help.omnichannel_premium"), border=True)
    if v.models_pending:
        models_pending(v)
    elif "error" in clv:
        st.info(loc.t("value.no_model", problem=loc.say(clv["error"])))
    values = ["avg_historical_clv"] + (["avg_predicted_clv"] if "error" not in clv else [])
    kinds = {"buyers": "count", "avg_historical_clv": "money", "avg_predicted_clv": "money"}
    tabs = st.tabs([loc.t("value.by_cohort"), loc.t("value.by_acquisition"), loc.t("value.by_n_channels")])
    for tab, by in zip(tabs, ("cohort", "acquisition_channel", "n_channels"), strict=True):
        with tab:
            frame = charts.clv_by(customers, by)
            labels = ({c: charts.channel_label(loc, c) for c in frame[by]} if by == "acquisition_channel" else None)
            st.plotly_chart(charts.grouped_bars(frame, loc, category=by, values=values, kind="money",
                                                title=loc.t(f"value.{by}_title"), category_labels=labels),
                            width="stretch")
            table(frame, {by: "text", **kinds}, f"clv_by_{by}.csv")

    st.subheader(loc.t("value.distribution_header"))
    buyers = customers.filter(pl.col("orders") > 0)
    left, right = st.columns(2)
    left.plotly_chart(charts.distribution(buyers["revenue"], loc, title=loc.t("value.historical_distribution")),
                      width="stretch")
    right.plotly_chart(charts.empty(loc, loc.t("chart.models_pending")) if v.models_pending else
                       charts.distribution(buyers["predicted_clv"], loc, title=loc.t("value.predicted_distribution")),
                       width="stretch")

    st.subheader(loc.t("value.rfm_header"))
    st.caption(loc.t("value.rfm_caption"))
    rfm = v.report.frames["rfm"]
    left, right = st.columns(2)
    left.plotly_chart(charts.grouped_bars(rfm, loc, category="segment", values=["customers"], kind="count",
                                          title=loc.t("value.rfm_customers_title"),
                                          category_labels={s: loc.t(f"rfm.{s}") for s in rfm["segment"]}),
                      width="stretch")
    right.plotly_chart(charts.grouped_bars(rfm, loc, category="segment", values=["avg_revenue"], kind="money",
                                           title=loc.t("value.rfm_revenue_title"),
                                           category_labels={s: loc.t(f"rfm.{s}") for s in rfm["segment"]}),
                       width="stretch")
    # Segment names as the UI writes them; the download keeps the data's names.
    st.dataframe(rfm.with_columns(pl.col("segment").replace_strict({s: loc.t(f"rfm.{s}") for s in rfm["segment"]},
                                                                   default=pl.col("segment"), return_dtype=pl.String)),
                 hide_index=True, placeholder=MISSING, column_order=["segment", "customers", "avg_revenue"],
                 column_config=charts.table_columns(loc, {"segment": "text", "customers": "count",
                                                          "avg_revenue": "money"}))
    download_csv(rfm, "rfm_segments.csv")

    with st.expander(loc.t("value.model_expander")):
        if "error" in clv:
            st.write(loc.t("status.models_pending") if v.models_pending else loc.say(clv["error"]))
        else:
            bg, gg = clv.get("bgnbd", {}), clv.get("gamma_gamma", {})
            st.markdown(loc.t("value.model_text", months=clv.get("horizon_months"),
                              rate=loc.percent(clv.get("discount_rate"))))
            params = pl.DataFrame({
                "model": ["BG/NBD"] * len(bg) + ["Gamma-Gamma"] * len(gg),
                "parameter": [*bg, *gg], "value": [float(x) for x in [*bg.values(), *gg.values()]],
            })
            # Written by the locale (`0,1234` in Turkish: a printf format would always write `0.1234`).
            st.dataframe(params.with_columns(pl.col("value").map_elements(lambda x: loc.number(x, 4),
                                                                          return_dtype=pl.String)),
                         hide_index=True, placeholder=MISSING, column_config={
                             "model": loc.t("value.model"), "parameter": loc.t("value.parameter"),
                             "value": st.column_config.TextColumn(loc.t("value.value"))})
            download_csv(params, "clv_parameters.csv")
