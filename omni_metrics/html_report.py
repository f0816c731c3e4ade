"""A self-contained HTML report of one view: key figures, interactive charts, the filters stated; opens offline."""

from __future__ import annotations

import html
from pathlib import Path

import plotly.io as pio
import polars as pl

from omni_metrics import charts
from omni_metrics.i18n import Locale, catalogue
from omni_metrics.report import Report

KPIS = [("customers", "count"), ("buyers", "count"), ("revenue", "money"), ("aov", "money"),
        ("customer_conversion_rate", "rate"), ("repeat_purchase_rate", "rate"), ("avg_historical_clv", "money"),
        ("nps", "score"), ("csat", "score"), ("silent_customers", "count"), ("omnichannel_premium", "ratio"),
        ("roas", "ratio")]

STYLE = """
body{font-family:Inter,Segoe UI,Helvetica,Arial,sans-serif;color:#1f2933;margin:0;background:#f4f6fa}
main{max-width:1180px;margin:0 auto;padding:28px}
h1{margin:0 0 4px;font-size:28px} h2{margin:32px 0 8px;font-size:20px}
.meta{color:#52606d;font-size:14px;margin-bottom:18px}
.kpis{display:grid;grid-template-columns:repeat(4,1fr);gap:12px}
.kpi{background:#fff;border:1px solid #e4e7eb;border-radius:10px;padding:12px 14px}
.kpi .label{color:#52606d;font-size:13px} .kpi .value{font-size:24px;font-weight:600;margin-top:4px}
.card{background:#fff;border:1px solid #e4e7eb;border-radius:10px;padding:8px;margin-top:12px}
table{border-collapse:collapse;width:100%;font-size:13px;background:#fff}
th,td{padding:6px 8px;border-bottom:1px solid #eef1f5;text-align:right} th{background:#f9fafb}
td:first-child,th:first-child{text-align:left}
.note{color:#52606d;font-size:13px}
"""


def _fmt(loc: Locale, value, kind: str) -> str:
    return {"count": loc.number, "money": loc.money, "rate": loc.percent,
            "score": lambda v: loc.number(v, 1), "ratio": lambda v: loc.number(v, 2)}[kind](value)


def describe_setting(loc: Locale, name: str, raw: str, link_form: bool = True) -> str:
    """One filter or setting of a view's query as the reader says it, then (link_form) as the link writes it:
    `Kanallar: Web, Mağaza (channels = web,store)`."""
    labels = {"page": "data.links.page", "channels": "sidebar.channels", "period": "sidebar.period", "start": "html.start", "end": "html.end",
              "as_of": "html.as_of", "position_weights": "setting.position_weights"}
    key = labels.get(name, f"setting.{name}")
    label = loc.t(key) if key in catalogue(loc.lang) else name.removeprefix("seg.")
    if name == "channels":
        value = ", ".join(charts.channel_label(loc, c) for c in raw.split(","))
    elif name in ("start", "end", "as_of"):
        value = loc.date(raw)
    elif name == "period":
        value = loc.t(f"period.{raw}")
    elif name == "page":
        value = loc.t(f"nav.{raw}")
    else:
        value = " / ".join(_number(loc, part) for part in raw.split(","))
    return f"{label}: {value}" + (f" ({name} = {raw})" if link_form else "")


def _number(loc: Locale, text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        return text
    return loc.number(number, len(text.split(".")[1]) if "." in text else 0)


def _table(frame: pl.DataFrame, loc: Locale, kinds: dict[str, str], limit: int = 25) -> str:
    head = "".join(f"<th>{html.escape(loc.t('metric.' + c) if loc.t('metric.' + c) != 'metric.' + c else c)}</th>"
                   for c in kinds)
    rows = []
    for row in frame.head(limit).select(list(kinds)).rows():
        cells = []
        for kind, value in zip(kinds.values(), row, strict=True):
            text = (charts.channel_label(loc, value) if kind == "channel" else
                    _path(loc, value) if kind == "path" else
                    str(value) if kind == "text" else _fmt(loc, value, kind))
            cells.append(f"<td>{html.escape(text if value is not None or kind != 'text' else '–')}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _path(loc: Locale, path: str | None) -> str:
    """A journey `web > store` as the UI writes it: `Web → Mağaza`."""
    return " → ".join(charts.channel_label(loc, c) for c in path.split(" > ")) if path else "–"


def render_html(report: Report, loc: Locale, dataset_name: str = "") -> str:
    """The report of this view as one HTML page; plotly's JavaScript is embedded once, so it works offline."""
    data, frames = report.data, report.frames
    overall = data.get("overall", {})
    settings = data.get("settings") or {}
    trend = frames.get("trend", pl.DataFrame())
    first = trend["period"][0] if trend.height else "–"
    figures = []

    def add(fig):
        figures.append(pio.to_html(fig, full_html=False, include_plotlyjs=not figures,
                                   config={"displaylogo": False, "responsive": True}))

    add(charts.trend(trend, loc, value="revenue", kind="money", title=loc.t("html.trend"),
                     secondary="session_conversion_rate"))
    channels = frames.get("channels", pl.DataFrame())
    if channels.height:
        add(charts.by_channel(channels, loc, value="session_conversion_rate", kind="rate",
                              title=loc.t("html.conversion")))
        add(charts.by_channel(channels, loc, value="revenue", kind="money", title=loc.t("html.revenue")))
    funnel = frames.get("funnel", pl.DataFrame())
    if funnel.height:
        add(charts.funnel(funnel.filter(pl.col("channel").is_not_null()), loc, title=loc.t("html.funnel"),
                          stages=("awareness", "consideration", "intent", "conversion")))
    cohorts = frames.get("cohorts", pl.DataFrame())
    if cohorts.height:
        add(charts.cohort_heatmap(cohorts, loc, value="retention", title=loc.t("html.cohorts")))
    nps = channels.filter(pl.col("nps_responses").fill_null(0) > 0) if channels.height else channels
    if nps.height:
        add(charts.score_with_moe(nps.rename({"nps_responses": "responses"}), loc, x="channel", value="nps",
                                  moe="nps_moe", title=loc.t("html.nps")))
    moments = frames.get("silent_moments", pl.DataFrame())
    if moments.height:
        add(charts.lift_bars(moments, loc, title=loc.t("html.silence")))
    churn = data.get("churn") or {}
    if "at_risk" in churn:
        add(charts.risk_bands(churn["at_risk"], loc, title=loc.t("html.risk")))
    sankey = frames.get("sankey", pl.DataFrame())
    if sankey.height:
        add(charts.sankey(sankey, loc, title=loc.t("html.journeys")))
    attribution = frames.get("attribution", pl.DataFrame())
    if attribution.height:
        add(charts.attribution(attribution, loc, value="conversions", title=loc.t("html.attribution")))

    kpis = "".join(
        f'<div class="kpi"><div class="label">{html.escape(loc.t("metric." + key))}</div>'
        f'<div class="value">{html.escape(_fmt(loc, overall.get(key), kind))}</div></div>'
        for key, kind in KPIS)
    filters = "; ".join(describe_setting(loc, k, v) for k, v in sorted(settings.items())) or loc.t("html.no_filters")
    if dataset_name == catalogue("en")["sidebar.sample_name"]:  # the built-in sample, named in the reader's language
        dataset_name = loc.t("sidebar.sample_name")
    clv = data.get("clv") or {}
    clv_line = (loc.t("html.clv_line", value=loc.money(clv.get("avg_predicted_clv")),
                      months=clv.get("horizon_months")) if "error" not in clv else loc.say(clv["error"]))
    churn_line = (loc.t("html.churn_line", auc=loc.number(churn.get("roc_auc"), 3),
                        baseline=loc.number(churn.get("baseline_roc_auc"), 3))
                  if "error" not in churn else loc.say(churn.get("error", "")))
    channel_kinds = {"channel": "channel", "sessions": "count", "session_conversion_rate": "rate",
                     "orders": "count", "revenue": "money", "aov": "money", "cac": "money", "roas": "ratio",
                     "nps": "score"}
    body = f"""
<main>
<h1>{html.escape(loc.t("html.title"))}{(" · " + html.escape(dataset_name)) if dataset_name else ""}</h1>
<div class="meta">{html.escape(loc.t("html.meta", start=first, as_of=loc.datetime(_as_of(data)),
                                     filters=filters))}</div>
<div class="kpis">{kpis}</div>
<p class="note">{html.escape(clv_line)} · {html.escape(churn_line)}</p>
{''.join(f'<div class="card">{f}</div>' for f in figures)}
<h2>{html.escape(loc.t("html.channels_table"))}</h2>
{_table(channels, loc, channel_kinds) if channels.height else ""}
<h2>{html.escape(loc.t("html.journeys_table"))}</h2>
{_table(frames.get("journeys", pl.DataFrame()), loc, {"path": "path", "customers": "count",
        "converted_share": "rate", "avg_revenue": "money"}, 15) if frames.get("journeys") is not None
        and frames["journeys"].height else ""}
<p class="note">{html.escape(loc.t("html.footer"))}</p>
</main>"""
    return (f'<!DOCTYPE html><html lang="{loc.lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(loc.t('html.title'))}</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>")


def _as_of(data: dict):
    from datetime import datetime

    return datetime.fromisoformat(data["as_of"]) if data.get("as_of") else None


def write_html_report(report: Report, path: str | Path, lang: str = "en", currency: str = "USD",
                      dataset_name: str = "") -> Path:
    path = Path(path)
    path.write_text(render_html(report, Locale(lang, currency), dataset_name), encoding="utf-8")
    return path
