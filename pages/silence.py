"""Silent moments and churn risk: where customers go quiet, who is about to leave and why (downloadable)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from omni_metrics import charts
from omni_metrics.i18n import MISSING
from pages._shared import download_csv, fmt_value, models_pending, page_guard, view

AT_RISK_COLUMNS = {"customer_id": "text", "churn_risk": "rate", "risk_band": "text", "risk_reasons": "text",
                   "days_silent": "days", "last_touch_channel": "text", "last_touch_event": "text",
                   "orders": "count", "revenue": "money", "predicted_clv": "money"}

with page_guard():
    v = view()
    loc = v.loc
    st.title(loc.t("silence.title"))
    overall = v.report.data["overall"]
    st.caption(loc.t("silence.caption", factor=loc.number(v.settings.silence_factor, 1),
                     floor=v.settings.silence_floor_days))
    columns = st.columns(3)
    silent_n = int(v.report.customers["silent"].sum() or 0)
    columns[0].metric(loc.t("metric.silent_customers"), fmt_value(loc, overall.get("silent_customers"), "count"),
                      help=loc.t("help.silent_customers"), border=True)
    columns[1].metric(loc.t("silence.silent_share"),
                      fmt_value(loc, silent_n / v.report.customers.height if v.report.customers.height else None,
                                "rate"), border=True)

    moments = v.report.frames["silent_moments"]
    st.plotly_chart(charts.lift_bars(moments, loc, title=loc.t("silence.lift_title")), width="stretch")
    st.caption(loc.t("silence.lift_note"))
    shown = moments.with_columns(
        pl.col("last_touch_event").replace_strict({e: loc.t(f"event.{e}") for e in
                                                   moments["last_touch_event"].drop_nulls().unique()},
                                                  default=None, return_dtype=pl.String))
    kinds = {"last_touch_channel": "text", "last_touch_event": "text", "customers": "count", "silent": "count",
             "silent_share": "rate", "lift": "ratio"}
    st.dataframe(charts.with_channel_labels(shown, loc, ["last_touch_channel"]), hide_index=True,
                 placeholder=MISSING, column_config=charts.table_columns(loc, kinds), column_order=list(kinds))
    download_csv(moments, "silent_moments.csv")

    st.subheader(loc.t("silence.churn_header"))
    churn = v.report.data.get("churn") or {}
    if v.models_pending:
        models_pending(v)
        st.stop()
    if "error" in churn:
        st.info(loc.say(churn["error"]))
        st.stop()
    if churn.get("notice"):
        st.warning(loc.say(churn["notice"]))
    columns = st.columns(4)
    columns[0].metric(loc.t("silence.roc_auc"), loc.number(churn.get("roc_auc"), 3),
                      delta=(loc.number(churn["roc_auc"] - churn["baseline_roc_auc"], 3)
                             if churn.get("roc_auc") is not None and churn.get("baseline_roc_auc") is not None
                             else None),
                      delta_description=loc.t("silence.vs_baseline"), help=loc.t("help.roc_auc"), border=True)
    columns[1].metric(loc.t("silence.baseline_roc_auc"), loc.number(churn.get("baseline_roc_auc"), 3),
                      help=loc.t("help.baseline_roc_auc"), border=True)
    columns[2].metric(loc.t("silence.average_precision"), loc.number(churn.get("average_precision"), 3),
                      border=True)
    columns[3].metric(loc.t("silence.brier"), loc.number(churn.get("brier"), 3), help=loc.t("help.brier"),
                      border=True)
    st.caption(loc.t("silence.horizon", days=churn.get("horizon_days", MISSING)))
    st.plotly_chart(charts.risk_bands(churn.get("at_risk") or {}, loc, title=loc.t("silence.bands_title")),
                    width="stretch")

    st.subheader(loc.t("silence.at_risk_header"))
    st.caption(loc.t("silence.at_risk_caption"))
    bands = st.multiselect(loc.t("silence.bands_pick"), ["high", "medium", "low"], default=["high"],
                           format_func=lambda b: loc.t(f"band.{b}"), key="risk_bands_pick")
    at_risk = (v.report.customers.filter(pl.col("risk_band").is_in(bands))
               .sort("churn_risk", "customer_id", descending=[True, False], nulls_last=True))
    at_risk = at_risk.select([c for c in AT_RISK_COLUMNS if c in at_risk.columns])
    st.write(loc.t("silence.at_risk_count", n=loc.number(at_risk.height)))
    kinds = {c: k for c, k in AT_RISK_COLUMNS.items() if c in at_risk.columns}
    shown = charts.with_channel_labels(at_risk, loc, ["last_touch_channel"]).with_columns(
        pl.col("risk_band").replace_strict({b: loc.t(f"band.{b}") for b in ("high", "medium", "low")},
                                           default=None, return_dtype=pl.String),
        pl.col("last_touch_event").replace_strict(
            {e: loc.t(f"event.{e}") for e in at_risk["last_touch_event"].drop_nulls().unique()},
            default=None, return_dtype=pl.String))
    if "risk_reasons" in shown.columns and loc.lang != "en":  # the model writes its reasons in English
        reasons = shown["risk_reasons"].drop_nulls().unique()
        shown = shown.with_columns(pl.col("risk_reasons").replace_strict(
            {r: ", ".join(loc.say(part) for part in r.split(", ")) for r in reasons}, default=None,
            return_dtype=pl.String))
    st.dataframe(shown, hide_index=True, placeholder=MISSING, column_config=charts.table_columns(loc, kinds),
                 column_order=list(kinds))
    download_csv(at_risk, "at_risk_customers.csv", label=loc.t("silence.download_at_risk"))
