"""Retention: cohort heatmaps (retention and revenue, partial cells marked), period retention/churn, repeat rate."""

from __future__ import annotations

import streamlit as st

from omni_metrics import charts
from omni_metrics.i18n import MISSING
from pages._shared import download_csv, fmt_value, page_guard, view

with page_guard():
    v = view()
    loc = v.loc
    st.title(loc.t("retention.title"))
    st.caption(loc.t("retention.caption", period=loc.t(f"period.{v.settings.period}").lower()))
    if "orders" not in v.tables:
        st.info(loc.t("retention.no_orders"))
        st.stop()
    overall = v.report.data["overall"]
    rates = v.report.frames["retention_rate"]
    columns = st.columns(3)
    columns[0].metric(loc.t("metric.repeat_purchase_rate"), fmt_value(loc, overall.get("repeat_purchase_rate"),
                                                                         "rate"),
                      help=loc.t("help.repeat_purchase_rate"), border=True)
    last = rates.drop_nulls("retention_rate").tail(2)
    latest = last["retention_rate"][0] if last.height else None  # the last full period, not the partial one
    columns[1].metric(loc.t("retention.latest_retention", period=last["period"][0] if last.height else MISSING),
                      fmt_value(loc, latest, "rate"), help=loc.t("help.retention_rate"), border=True)
    columns[2].metric(loc.t("metric.buyers"), fmt_value(loc, overall.get("buyers"), "count"), border=True)

    cohorts = v.report.frames["cohorts"]
    tab_retention, tab_revenue = st.tabs([loc.t("retention.tab_retention"), loc.t("retention.tab_revenue")])
    with tab_retention:
        st.plotly_chart(charts.cohort_heatmap(cohorts, loc, value="retention",
                                              title=loc.t("retention.heatmap_title")), width="stretch")
    with tab_revenue:
        st.plotly_chart(charts.cohort_heatmap(cohorts, loc, value="revenue",
                                              title=loc.t("retention.revenue_heatmap_title")), width="stretch")
    st.plotly_chart(charts.rate_lines(rates, loc, columns=("retention_rate", "churn_rate"),
                                      title=loc.t("retention.rate_title")), width="stretch")
    st.caption(loc.t("retention.rate_note"))
    with st.expander(loc.t("retention.tables")):
        kinds = {"cohort": "text", "offset": "count", "size": "count", "active": "count", "retention": "rate",
                 "revenue": "money", "partial": "text"}
        st.dataframe(cohorts, column_config=charts.table_columns(loc, kinds) | {
            "partial": st.column_config.CheckboxColumn(loc.t("metric.partial"))}, column_order=list(kinds),
            hide_index=True, placeholder=MISSING)
        download_csv(cohorts, "cohorts.csv")
        rate_kinds = {"period": "text", "retention_rate": "rate", "churn_rate": "rate"}
        st.dataframe(rates, column_config=charts.table_columns(loc, rate_kinds), hide_index=True,
                     placeholder=MISSING)
        download_csv(rates, "retention_rate.csv")
