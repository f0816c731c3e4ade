"""Plotly figure builders: a tidy polars frame and a Locale in, a go.Figure out, one look across the app."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from omni_metrics.i18n import CURRENCIES, MISSING, Locale

# One colour per channel, the same on every page and in every export.
CHANNEL_COLOURS = {
    "web": "#2563eb",
    "mobile_app": "#7c3aed",
    "store": "#059669",
    "email": "#d97706",
    "social": "#db2777",
    "support": "#dc2626",
    "unknown": "#9ca3af",
}
_FALLBACK = ("#0891b2", "#65a30d", "#a16207", "#4f46e5", "#be123c", "#0f766e", "#9333ea", "#ea580c")
OVERALL_COLOUR = "#1f2933"
BAND_COLOURS = {"high": "#dc2626", "medium": "#f59e0b", "low": "#10b981"}
NPS_COLOURS = {"promoters": "#10b981", "passives": "#facc15", "detractors": "#ef4444"}
SMALL_SAMPLE = 30
FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13, color="#1f2933")


def channel_colour(channel: str | None) -> str:
    """A stable colour for any channel: the fixed map, else a palette slot chosen by the name itself."""
    if channel is None:
        return OVERALL_COLOUR
    if channel in CHANNEL_COLOURS:
        return CHANNEL_COLOURS[channel]
    return _FALLBACK[sum(map(ord, channel)) % len(_FALLBACK)]


def channel_label(loc: Locale, channel: str | None) -> str:
    if channel is None:
        return loc.t("chart.overall")
    key = f"channel.{channel}"
    text = loc.t(key)
    return channel.replace("_", " ").capitalize() if text == key else text


@cache
def _template() -> go.layout.Template:
    """plotly_white as these charts use it (bar, scatter, heatmap and sankey traces on 2-D axes): every figure
    takes a copy of its template, and copying the whole of plotly_white (3-D, map and polar defaults, thirty
    trace types) was most of the time a page spent drawing its charts."""
    base = pio.templates["plotly_white"].to_plotly_json()
    layout = {k: v for k, v in base["layout"].items() if k not in ("geo", "mapbox", "polar", "scene", "ternary")}
    return go.layout.Template(layout=layout, data={k: v for k, v in base["data"].items()
                                                   if k in ("bar", "scatter", "heatmap", "sankey")})


def _layout(fig: go.Figure, title: str, *, height: int = 380, legend: bool = True, note: str | None = None,
            top: int = 56) -> go.Figure:
    """The one look: title top left, a note under it (never over the axis labels), legend top right."""
    heading = dict(text=title, x=0, xanchor="left", font=dict(size=16))
    if note:
        heading["subtitle"] = dict(text=note, font=dict(size=12, color="#6b7280"))
        top += 18
    fig.update_layout(
        title=heading,
        template=_template(), font=FONT, height=height, margin=dict(l=10, r=10, t=top, b=10),
        showlegend=legend, legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right", title=None),
        hoverlabel=dict(font_size=13), separators=".," if loc_is_en(fig) else ",.",
    )
    fig.update_xaxes(showgrid=False, automargin=True)
    fig.update_yaxes(gridcolor="#eef1f5", automargin=True, zeroline=False)
    return fig


def loc_is_en(fig: go.Figure) -> bool:
    return (fig.layout.meta or {}).get("lang", "en") != "tr"


def _figure(loc: Locale) -> go.Figure:
    # Plotly's own tick labels follow `separators`; the locale is stored so _layout can set it.
    return go.Figure(layout=dict(meta={"lang": loc.lang}))


def _fmt(loc: Locale, values, kind: str) -> list[str]:
    fmt = {"count": loc.number, "money": loc.money, "rate": loc.percent,
           "score": lambda v: loc.number(v, 1), "ratio": lambda v: loc.number(v, 2)}[kind]
    return [fmt(v) for v in values]


def _short(loc: Locale, values, kind: str) -> list[str]:
    """Bar labels: money in thousands or millions (₺2.38M) so a label fits over its bar; the rest as _fmt."""
    if kind != "money":
        return _fmt(loc, values, kind)
    sign = currency_sign(loc)
    out = []
    for v in values:
        if v is None:
            out.append(MISSING)
        elif abs(v) >= 1e6:
            out.append(f"{sign}{loc.number(v / 1e6, 2)}M")
        elif abs(v) >= 1e4:
            out.append(f"{sign}{loc.number(v / 1e3, 1)}k")
        else:
            out.append(loc.money(v))
    return out


def _percent_axis(fig: go.Figure, axis: str = "y") -> None:
    getattr(fig, f"update_{axis}axes")(tickformat=".0%", rangemode="tozero")


def _value_axis(fig: go.Figure, loc: Locale, kind: str, axis: str = "y") -> None:
    """Readable value ticks: percentages for rates, the currency sign and thousands (k, M) for money."""
    # Only the primary axis: a trend's second axis (a rate) keeps its own format.
    update = getattr(fig.layout, f"{axis}axis").update
    if kind == "rate":
        update(tickformat=".0%", rangemode="tozero")
    elif kind == "money":
        update(tickprefix=currency_sign(loc), tickformat="~s", rangemode="tozero")
    elif kind == "count":
        update(tickformat="~s", rangemode="tozero")


def currency_sign(loc: Locale) -> str:
    return CURRENCIES.get(loc.currency, loc.currency + " ")


# How a table column of each kind is shown (st.dataframe column_config entries, built without Streamlit), as
# (format, decimals). Streamlit's grid writes "localized", "percent" and "accounting" with the reader's browser
# language (Intl.NumberFormat): a Turkish browser shows 1.234,5 and %12,5. A printf format such as "%.1f" and
# "accounting" (numbro) would always write 1,234.50, so decimals are set by the column's step instead (for a
# percentage the step counts the fraction's digits: 0.001 → %12,5, one decimal as on the tiles).
_TABLE_FORMATS = {"count": ("localized", None), "money": ("localized", 0.01), "rate": ("percent", 0.001),
                  "score": ("localized", 0.1), "ratio": ("localized", 0.01), "days": ("localized", 1)}


def table_columns(loc: Locale, kinds: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, dict]:
    """column_config for st.dataframe: localized labels (money with the currency sign) and number formats."""
    config: dict[str, dict] = {}
    for column, kind in kinds.items():
        label = (labels or {}).get(column) or loc.t(f"metric.{column}")
        if kind == "money":
            label = f"{label} ({currency_sign(loc).strip()})"
        if kind == "text":
            config[column] = {"label": label, "type_config": {"type": "text"}}
        else:
            number_format, step = _TABLE_FORMATS[kind]
            type_config = {"type": "number", "format": number_format}
            if step is not None:
                type_config["step"] = step
            config[column] = {"label": label, "type_config": type_config}
    return config


CHANNEL_COLUMNS = ("channel", "acquisition_channel", "last_touch_channel")


def with_channel_labels(frame: pl.DataFrame, loc: Locale, columns: Sequence[str] = CHANNEL_COLUMNS) -> pl.DataFrame:
    """Channel names as the UI writes them (for display only; downloads keep the data's names)."""
    out = frame
    for column in columns:
        if column in out.columns and out[column].dtype == pl.String:
            names = out[column].drop_nulls().unique().to_list()
            out = out.with_columns(pl.col(column).replace_strict(
                {n: channel_label(loc, n) for n in names}, default=None, return_dtype=pl.String))
    return out


def empty(loc: Locale, message: str) -> go.Figure:
    fig = _figure(loc)
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14, color="#6b7280"), x=0.5, y=0.5,
                       xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, "", height=200, legend=False)


# --- trends -----------------------------------------------------------------------------------------------

def trend(frame: pl.DataFrame, loc: Locale, *, value: str, kind: str, title: str,
          secondary: str | None = None, secondary_kind: str = "rate") -> go.Figure:
    """One figure per period (bars) with an optional second one as a line on its own axis."""
    fig = _figure(loc)
    if frame.is_empty():
        return empty(loc, loc.t("chart.no_data"))
    fig.add_bar(x=frame["period"], y=frame[value], name=loc.t(f"metric.{value}"), marker_color="#93c5fd",
                customdata=_fmt(loc, frame[value], kind), hovertemplate="%{x}: %{customdata}<extra></extra>")
    if secondary:
        fig.add_scatter(x=frame["period"], y=frame[secondary], name=loc.t(f"metric.{secondary}"), yaxis="y2",
                        mode="lines+markers", line=dict(color="#1d4ed8", width=2),
                        customdata=_fmt(loc, frame[secondary], secondary_kind),
                        hovertemplate="%{x}: %{customdata}<extra></extra>")
    fig.update_xaxes(type="category")
    _value_axis(fig, loc, kind)
    if secondary:
        # update_yaxes above reaches every y axis: give the line's axis its own format back.
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", showgrid=False, tickprefix="",
                                      tickformat=".0%" if secondary_kind == "rate" else "~s", rangemode="tozero"))
    return _layout(fig, title)


# --- channels ---------------------------------------------------------------------------------------------

def by_channel(frame: pl.DataFrame, loc: Locale, *, value: str, kind: str, title: str,
               sort: bool = True) -> go.Figure:
    """One bar per channel in the channel's colour; undefined values are left out and noted as –."""
    if frame.is_empty():
        return empty(loc, loc.t("chart.no_data"))
    data = frame.select("channel", value)
    if sort:
        data = data.sort(value, descending=True, nulls_last=True)
    labels = [channel_label(loc, c) for c in data["channel"]]
    fig = _figure(loc)
    fig.add_bar(x=labels, y=data[value].fill_null(0), marker_color=[channel_colour(c) for c in data["channel"]],
                text=_short(loc, data[value], kind), textposition="outside", cliponaxis=False,
                customdata=_fmt(loc, data[value], kind), hovertemplate="%{x}: %{customdata}<extra></extra>")
    _value_axis(fig, loc, kind)
    return _layout(fig, title, legend=False)


def funnel(frame: pl.DataFrame, loc: Locale, *, title: str, stages: Sequence[str]) -> go.Figure:
    """Customers reaching each stage per channel (grouped bars), the stage-to-stage rate on hover."""
    if frame.is_empty():
        return empty(loc, loc.t("chart.no_data"))
    fig = _figure(loc)
    for channel in frame["channel"].unique(maintain_order=True).to_list():
        part = frame.filter(pl.col("channel").eq_missing(channel))
        order = {s: i for i, s in enumerate(stages)}
        part = part.sort(pl.col("stage").replace_strict(order, default=99))
        hover = [f"{loc.number(c)} · {loc.t('chart.from_previous')} {loc.percent(r)}"
                 for c, r in zip(part["customers"], part["rate_from_previous"], strict=True)]
        fig.add_bar(x=[loc.t(f"stage.{s}") for s in part["stage"]], y=part["customers"],
                    name=channel_label(loc, channel), marker_color=channel_colour(channel), customdata=hover,
                    hovertemplate="%{fullData.name} · %{x}: %{customdata}<extra></extra>")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=loc.t("metric.customers"))
    return _layout(fig, title)


# --- retention --------------------------------------------------------------------------------------------

def cohort_heatmap(frame: pl.DataFrame, loc: Locale, *, value: str, title: str) -> go.Figure:
    """Cohorts down, periods since the first order across; cells in the as_of period are marked partial (*)."""
    if frame.is_empty():
        return empty(loc, loc.t("chart.no_data"))
    kind = "rate" if value == "retention" else "money"
    cohorts = sorted(frame["cohort"].unique().to_list())
    offsets = list(range(int(frame["offset"].max()) + 1))
    grid = {(c, o): (v, p, s) for c, o, v, p, s in frame.select("cohort", "offset", value, "partial", "size").rows()}
    z, text, hover = [], [], []
    for c in cohorts:
        row_z, row_t, row_h = [], [], []
        for o in offsets:
            v, partial, size = grid.get((c, o), (None, False, None))
            row_z.append(v)
            label = "" if v is None else _fmt(loc, [v], kind)[0] + ("*" if partial else "")
            row_t.append(label)
            row_h.append(f"{c} +{o}: {label or MISSING}" + (f" · {loc.t('chart.partial')}" if partial else "")
                         + (f" · {loc.t('metric.size')} {loc.number(size)}" if size is not None else ""))
        z.append(row_z)
        text.append(row_t)
        hover.append(row_h)
    # Offset 0 is 100 % retention by definition: scale the colours on the later periods so they show contrast.
    later = frame.filter(pl.col("offset") > 0)[value].drop_nulls()
    top = float(later.max()) if later.len() else None
    fig = _figure(loc)
    fig.add_heatmap(z=z, x=[str(o) for o in offsets], y=cohorts, text=text, texttemplate="%{text}",
                    # Smaller figures when there are many periods, so "100.0%" still fits its cell.
                    textfont=dict(size=10 if len(offsets) <= 18 else 9), customdata=hover, hovertemplate="%{customdata}<extra></extra>",
                    colorscale="Blues", showscale=False, xgap=1, ygap=1, zmin=0, zmax=top or None)
    fig.update_yaxes(autorange="reversed", type="category", title=loc.t("chart.cohort"))
    fig.update_xaxes(title=dict(text=loc.t("chart.periods_since_first"), standoff=4), side="top", type="category")
    return _layout(fig, title, height=max(340, 26 * len(cohorts) + 150), legend=False,
                   note=loc.t("chart.partial_note"), top=100)


def rate_lines(frame: pl.DataFrame, loc: Locale, *, columns: Sequence[str], title: str) -> go.Figure:
    if frame.is_empty():
        return empty(loc, loc.t("chart.no_data"))
    colours = ("#2563eb", "#dc2626", "#059669")
    fig = _figure(loc)
    for column, colour in zip(columns, colours, strict=False):
        fig.add_scatter(x=frame["period"], y=frame[column], name=loc.t(f"metric.{column}"), mode="lines+markers",
                        line=dict(color=colour, width=2), customdata=_fmt(loc, frame[column], "rate"),
                        hovertemplate="%{x}: %{customdata}<extra>%{fullData.name}</extra>")
    _percent_axis(fig)
    fig.update_xaxes(type="category")
    return _layout(fig, title)


# --- value ------------------------------------------------------------------------------------------------

def grouped_bars(frame: pl.DataFrame, loc: Locale, *, category: str, values: Sequence[str], kind: str,
                 title: str, category_labels: dict | None = None) -> go.Figure:
    """Bars of one or more figures per category (cohort, acquisition channel, number of channels, segment)."""
    if frame.is_empty():
        return empty(loc, loc.t("chart.no_data"))
    colours = ("#2563eb", "#93c5fd", "#059669")
    labels = [str((category_labels or {}).get(c, c)) for c in frame[category]]
    fig = _figure(loc)
    for value, colour in zip(values, colours, strict=False):
        marker = ([channel_colour(c) for c in frame[category]] if category in ("channel", "acquisition_channel")
                  and len(values) == 1 else colour)
        fig.add_bar(x=labels, y=frame[value].fill_null(0), name=loc.t(f"metric.{value}"), marker_color=marker,
                    customdata=_fmt(loc, frame[value], kind),
                    hovertemplate="%{x}: %{customdata}<extra>%{fullData.name}</extra>")
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    _value_axis(fig, loc, kind)
    return _layout(fig, title, legend=len(values) > 1)


BINS = 40


def distribution(values: pl.Series, loc: Locale, *, title: str, kind: str = "money") -> go.Figure:
    values = values.drop_nulls()
    if values.is_empty():
        return empty(loc, loc.t("chart.no_data"))
    cap = float(values.quantile(0.99) or values.max())
    # Binned here, not in the browser: a million customers would otherwise travel to it as a million numbers.
    clipped = values.cast(pl.Float64).clip(upper_bound=cap).to_numpy()
    low = float(min(clipped.min(), 0.0))
    counts, edges = np.histogram(clipped, bins=BINS, range=(low, cap if cap > low else low + 1.0))
    ranges = [f"{_fmt(loc, [a], kind)[0]} – {_fmt(loc, [b], kind)[0]}" for a, b in zip(edges[:-1], edges[1:],
                                                                                         strict=True)]
    fig = _figure(loc)
    fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=float(edges[1] - edges[0]), marker_color="#60a5fa",
                marker_line=dict(width=0.5, color="white"), customdata=ranges,
                hovertemplate="%{customdata}: %{y} " + loc.t("metric.customers") + "<extra></extra>")
    fig.update_xaxes(title=loc.t("chart.capped_at", value=_fmt(loc, [cap], kind)[0]))
    fig.update_yaxes(title=loc.t("metric.customers"))
    return _layout(fig, title, legend=False)


# --- satisfaction -----------------------------------------------------------------------------------------

def score_with_moe(frame: pl.DataFrame, loc: Locale, *, x: str, value: str, moe: str | None, title: str,
                   colour_by_channel: bool = True) -> go.Figure:
    """NPS (or CSAT) with 95 % margin-of-error bars; fewer than 30 responses drawn pale and flagged."""
    if frame.is_empty():
        return empty(loc, loc.t("chart.no_data"))
    labels = [channel_label(loc, c) if x == "channel" else str(c) for c in frame[x]]
    small = [(n or 0) < SMALL_SAMPLE for n in frame["responses"]]
    colours = [channel_colour(c) if colour_by_channel and x == "channel" else "#2563eb" for c in frame[x]]
    hover = [f"{loc.number(v, 1)}" + (f" ± {loc.number(m, 1)}" if m is not None else "")
             + f" · {loc.number(n)} {loc.t('metric.responses')}" + (f" · {loc.t('chart.small_sample')}" if s else "")
             for v, m, n, s in zip(frame[value], frame[moe] if moe else [None] * frame.height, frame["responses"],
                                   small, strict=True)]
    fig = _figure(loc)
    fig.add_bar(x=labels, y=frame[value].fill_null(0), marker_color=colours,
                marker_opacity=[0.35 if s else 1.0 for s in small],
                error_y=dict(type="data", array=frame[moe].fill_null(0).to_list(), color="#374151", thickness=1.2)
                if moe else None,
                text=[loc.number(v, 1) + (" †" if s else "") for v, s in zip(frame[value], small, strict=True)],
                textposition="inside", insidetextanchor="start", textfont=dict(color="white"), customdata=hover,
                hovertemplate="%{x}: %{customdata}<extra></extra>")
    fig.update_xaxes(type="category")
    note = "† " + loc.t("chart.small_sample_note", n=SMALL_SAMPLE) if any(small) else None
    return _layout(fig, title, legend=False, note=note)


def score_over_time(frame: pl.DataFrame, loc: Locale, *, value: str = "nps", moe: str | None = "nps_moe",
                    title: str) -> go.Figure:
    """A score per period, one line per channel (all responses in dark), 95 % error bars; small samples hollow."""
    if frame.is_empty() or frame[value].drop_nulls().is_empty():
        return empty(loc, loc.t("chart.no_data"))
    fig = _figure(loc)
    responses = "responses" if value == "nps" else "csat_responses"
    channels = sorted(frame["channel"].drop_nulls().unique().to_list())
    any_small = False
    for channel in [None, *channels]:
        part = frame.filter(pl.col("channel").eq_missing(channel) & pl.col(value).is_not_null()).sort("period")
        if part.is_empty():
            continue
        small = (part[responses].fill_null(0) < SMALL_SAMPLE).to_list()
        any_small |= any(small)
        hover = [f"{loc.number(v, 1)}" + (f" ± {loc.number(m, 1)}" if m is not None else "")
                 + f" · {loc.number(n)} {loc.t('metric.responses')}" + (f" · {loc.t('chart.small_sample')}" if sm
                                                                          else "")
                 for v, m, n, sm in zip(part[value], part[moe] if moe else [None] * part.height, part[responses],
                                        small, strict=True)]
        colour = channel_colour(channel)
        fig.add_scatter(
            x=part["period"], y=part[value], name=channel_label(loc, channel), mode="lines+markers",
            line=dict(color=colour, width=3 if channel is None else 1.5),
            marker=dict(color=["white" if sm else colour for sm in small], line=dict(color=colour, width=1.5),
                        size=8),
            error_y=dict(type="data", array=part[moe].fill_null(0).to_list(), color=colour, thickness=1,
                         width=3) if moe and channel is None else None,
            visible=True if channel is None else "legendonly", customdata=hover,
            hovertemplate="%{x}: %{customdata}<extra>%{fullData.name}</extra>")
    fig.update_xaxes(type="category")
    note = "○ " + loc.t("chart.small_sample_note", n=SMALL_SAMPLE) if any_small else None
    return _layout(fig, title, note=note)


def nps_split(frame: pl.DataFrame, loc: Locale, *, title: str) -> go.Figure:
    """Promoters / passives / detractors as shares of each channel's responses (stacked to 100 %)."""
    if frame.is_empty():
        return empty(loc, loc.t("chart.no_data"))
    labels = [channel_label(loc, c) for c in frame["channel"]]
    fig = _figure(loc)
    for group in ("detractors", "passives", "promoters"):
        fig.add_bar(y=labels, x=frame[group], orientation="h", name=loc.t(f"metric.{group}"),
                    marker_color=NPS_COLOURS[group], customdata=_fmt(loc, frame[group], "rate"),
                    hovertemplate="%{y}: %{customdata}<extra>%{fullData.name}</extra>")
    fig.update_layout(barmode="stack")
    _percent_axis(fig, "x")
    return _layout(fig, title, height=max(260, 40 * frame.height + 120))


# --- silence and risk -------------------------------------------------------------------------------------

def lift_bars(frame: pl.DataFrame, loc: Locale, *, title: str, top: int = 15) -> go.Figure:
    """Which last touches customers go quiet after: lift of the silent share over the overall share."""
    data = frame.filter(pl.col("lift").is_not_null()).sort("lift", descending=True).head(top)
    if data.is_empty():
        return empty(loc, loc.t("chart.no_data"))
    data = data.reverse()
    labels = [f"{channel_label(loc, c)} · {loc.t(f'event.{e}') if e else MISSING}" if c else loc.t("chart.no_touch")
              for c, e in zip(data["last_touch_channel"], data["last_touch_event"], strict=True)]
    hover = [f"{loc.t('metric.lift')} {loc.number(lf, 2)} · {loc.percent(s)} {loc.t('metric.silent')} · "
             f"{loc.number(n)} {loc.t('metric.customers')}"
             for lf, s, n in zip(data["lift"], data["silent_share"], data["customers"], strict=True)]
    fig = _figure(loc)
    fig.add_bar(y=labels, x=data["lift"], orientation="h", customdata=hover,
                marker_color=[channel_colour(c) for c in data["last_touch_channel"]],
                text=[loc.number(v, 2) for v in data["lift"]], textposition="outside", cliponaxis=False,
                hovertemplate="%{y}: %{customdata}<extra></extra>")
    fig.add_vline(x=1, line_dash="dot", line_color="#6b7280")
    fig.update_xaxes(title=loc.t("chart.lift_axis"))
    return _layout(fig, title, height=max(300, 28 * data.height + 120), legend=False)


def risk_bands(counts: dict[str, int], loc: Locale, *, title: str) -> go.Figure:
    bands = [b for b in ("high", "medium", "low") if b in counts]
    if not bands:
        return empty(loc, loc.t("chart.no_data"))
    fig = _figure(loc)
    fig.add_bar(x=[loc.t(f"band.{b}") for b in bands], y=[counts[b] for b in bands],
                marker_color=[BAND_COLOURS[b] for b in bands], text=[loc.number(counts[b]) for b in bands],
                textposition="outside", cliponaxis=False, hovertemplate="%{x}: %{text}<extra></extra>")
    fig.update_yaxes(title=loc.t("metric.customers"))
    return _layout(fig, title, legend=False)


# --- journeys and attribution -----------------------------------------------------------------------------

def sankey(frame: pl.DataFrame, loc: Locale, *, title: str) -> go.Figure:
    """Flows between channels over the first steps of the journeys; a node is (step, channel)."""
    if frame.is_empty():
        return empty(loc, loc.t("chart.no_data"))
    nodes: dict[tuple[int, str], int] = {}
    for step, source, target in frame.select("step", "source", "target").rows():
        nodes.setdefault((step, source), len(nodes))
        nodes.setdefault((step + 1, target), len(nodes))
    keys = list(nodes)
    fig = _figure(loc)
    fig.add_sankey(
        arrangement="snap",
        node=dict(label=[f"{channel_label(loc, c)} ({s})" for s, c in keys], pad=14, thickness=14,
                  color=[channel_colour(c) for _, c in keys],
                  x=[(s - 1) / max(1, max(k[0] for k in keys) - 1) * 0.98 + 0.01 for s, _ in keys]),
        link=dict(source=[nodes[(s, a)] for s, a in zip(frame["step"], frame["source"], strict=True)],
                  target=[nodes[(s + 1, b)] for s, b in zip(frame["step"], frame["target"], strict=True)],
                  value=frame["customers"].to_list(),
                  # A flow takes the colour of the channel it leaves, faded, so the paths can be followed.
                  color=[_fade(channel_colour(a)) for a in frame["source"]],
                  customdata=_fmt(loc, frame["customers"], "count"),
                  hovertemplate="%{source.label} → %{target.label}: %{customdata}<extra></extra>"),
    )
    return _layout(fig, title, height=460, legend=False)


def _fade(colour: str, alpha: float = 0.35) -> str:
    """A #rrggbb colour as a translucent rgba()."""
    if not colour.startswith("#") or len(colour) != 7:
        return colour
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


ATTRIBUTION_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based", "markov")


def attribution(frame: pl.DataFrame, loc: Locale, *, value: str, title: str) -> go.Figure:
    """The six models side by side: one group per channel, one bar per model."""
    if frame.is_empty():
        return empty(loc, loc.t("chart.no_data"))
    palette = ("#bfdbfe", "#93c5fd", "#60a5fa", "#3b82f6", "#1d4ed8", "#f59e0b")
    channels = frame.group_by("channel").agg(pl.col(value).sum()).sort(value, descending=True)["channel"]
    fig = _figure(loc)
    kind = "money" if value == "value" else "score"
    for model, colour in zip(ATTRIBUTION_MODELS, palette, strict=True):
        part = pl.DataFrame({"channel": channels}).join(frame.filter(pl.col("model") == model), on="channel",
                                                         how="left")
        fig.add_bar(x=[channel_label(loc, c) for c in part["channel"]], y=part[value].fill_null(0),
                    name=loc.t(f"model.{model}"), marker_color=colour, customdata=_fmt(loc, part[value], kind),
                    hovertemplate="%{x}: %{customdata}<extra>%{fullData.name}</extra>")
    fig.update_layout(barmode="group")
    _value_axis(fig, loc, "money" if value == "value" else "count")
    return _layout(fig, title)


# --- chart-ready frames -----------------------------------------------------------------------------------

def clv_by(customers: pl.DataFrame, by: str) -> pl.DataFrame:
    """Average historical and predicted CLV per group, over buyers only (METRICS.md §4), with the buyer count."""
    buyers = customers.filter(pl.col("orders") > 0)
    key = pl.col(by)
    if by == "n_channels":  # the channel-mix groups of §8: 1, 2, 3+
        key = pl.when(pl.col(by) >= 3).then(pl.lit("3+")).otherwise(pl.col(by).cast(pl.String))
    return (buyers.group_by(key.alias(by))
            .agg(pl.len().cast(pl.Int64).alias("buyers"), pl.col("revenue").mean().alias("avg_historical_clv"),
                 pl.col("predicted_clv").mean().alias("avg_predicted_clv"))
            .filter(pl.col(by).is_not_null()).sort(by))
