"""Overview: the key figures of the view with their change against the previous period, and the trend."""

from __future__ import annotations

import polars as pl
import streamlit as st

from omni_metrics import charts
from omni_metrics.i18n import MISSING
from pages._shared import download_csv, fmt_value, page_guard, store, view

# (key in report.data["overall"], kind, column of the trend frame that gives the change, better when higher)
TILES = [
    ("customers", "count", "customers"),
    ("buyers", "count", "buyers"),
    ("revenue", "money", "revenue"),
    ("aov", "money", "aov"),
    ("session_conversion_rate", "rate", "session_conversion_rate"),
    ("repeat_purchase_rate", "rate", None),
    ("nps", "score", "nps"),
    ("silent_customers", "count", None),
    ("omnichannel_premium", "ratio", None),
]
# The trend frame's figures a manager can chart per period, and how each is written.
TREND_KINDS = {"customers": "count", "buyers": "count", "orders": "count", "revenue": "money", "aov": "money",
               "new_customers": "count", "sessions": "count", "session_conversion_rate": "rate", "nps": "score"}


def change(trend: pl.DataFrame, column: str | None, kind: str) -> str | None:
    """The last full period against the one before: relative for amounts, in points for a score (NPS moves
    from 5 to 20, not by 300 %); None where undefined."""
    if column is None or column not in trend.columns or trend.height < 3:
        return None
    # The as_of period is usually partial: compare the two periods before it.
    previous, last = trend[column][-3], trend[column][-2]
    if previous is None or last is None:
        return None
    if kind == "score":
        return loc.t("overview.points", value=("+" if last >= previous else "-") + loc.number(abs(last - previous), 1))
    if previous == 0:
        return None
    return loc.signed_percent((last - previous) / abs(previous))


with page_guard():
    v = view()
    loc = v.loc
    data = v.report.data
    overall = data.get("overall", {})
    trend = v.report.frames.get("trend", pl.DataFrame())
    st.title(loc.t("overview.title"))
    # The built-in sample is named in the reader's language; an upload keeps the name its owner gave it.
    name = loc.t("sidebar.sample_name") if v.dataset_id == store().sample_dataset_id() else v.dataset_name
    st.caption(loc.t("overview.caption", dataset=name, as_of=loc.date(str(data.get("as_of"))[:10])))
    columns = st.columns(3)
    for i, (key, kind, trend_column) in enumerate(TILES):
        columns[i % 3].metric(
            loc.t(f"metric.{key}"), fmt_value(loc, overall.get(key), kind),
            delta=change(trend, trend_column, kind),
            help=loc.t(f"help.{key}"), border=True,
        )
    if trend.height >= 3:
        st.caption(loc.t("overview.delta_note", last=trend["period"][-2], previous=trend["period"][-3]))
    st.plotly_chart(
        charts.trend(trend, loc, value="revenue", kind="money", title=loc.t("overview.trend_title"),
                     secondary="session_conversion_rate"),
        width="stretch",
    )
    picked = st.selectbox(loc.t("overview.trend_pick"), list(TREND_KINDS), format_func=lambda k: loc.t(f"metric.{k}"),
                          key="trend_metric")
    st.plotly_chart(charts.trend(trend, loc, value=picked, kind=TREND_KINDS[picked],
                                 title=loc.t("overview.kpi_trend_title", metric=loc.t(f"metric.{picked}"))),
                    width="stretch")
    for message in (data.get("notes") or []):
        st.info(loc.say(message))
    st.dataframe(trend, hide_index=True, placeholder=MISSING,
                 column_config=charts.table_columns(loc, {"period": "text", **TREND_KINDS}),
                 column_order=["period", *TREND_KINDS])
    download_csv(trend, "trend.csv")
