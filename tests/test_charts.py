"""Chart builders on hand-made tidy frames: one colour per channel, locale-formatted hovers, dashes, partial cells."""

import polars as pl
import pytest

from omni_metrics import charts
from omni_metrics.i18n import MISSING, Locale

EN = Locale("en", "USD")
TR = Locale("tr", "TRY")


def channels_frame() -> pl.DataFrame:
    return pl.DataFrame({
        "channel": ["web", "store", "tiktok_shop", "email"],
        "revenue": [1234.5, 20000.0, 10.0, None],
        "customer_conversion_rate": [0.125, 0.5, None, 0.0],
        "nps": [40.0, -10.0, 100.0, None],
        "nps_moe": [5.0, 12.5, None, None],
        "responses": [400, 29, 1, 0],
    })


def test_one_colour_per_channel_on_every_chart():
    frame = channels_frame()
    bars = charts.by_channel(frame, EN, value="revenue", kind="money", title="t")
    other = charts.by_channel(frame, TR, value="customer_conversion_rate", kind="rate", title="t")
    nps = charts.score_with_moe(frame, EN, x="channel", value="nps", moe="nps_moe", title="t")
    # bars sort by value, so read the colours against the labels each figure shows
    seen = {}
    for fig, loc in ((bars, EN), (other, TR), (nps, EN)):
        by_label = dict(zip(fig.data[0].x, fig.data[0].marker.color, strict=True))
        for channel in frame["channel"]:
            colour = by_label[charts.channel_label(loc, channel)]
            assert seen.setdefault(channel, colour) == colour
    assert seen["web"] == charts.CHANNEL_COLOURS["web"] and seen["store"] == charts.CHANNEL_COLOURS["store"]
    # a channel outside the fixed map gets a palette colour chosen by its name alone: the same every time
    assert seen["tiktok_shop"] in charts._FALLBACK
    assert charts.channel_colour("tiktok_shop") == charts.channel_colour("tiktok_shop") == seen["tiktok_shop"]
    assert len(set(charts.CHANNEL_COLOURS.values())) == len(charts.CHANNEL_COLOURS)


def test_bar_values_are_formatted_in_the_locale_and_undefined_is_a_dash():
    fig = charts.by_channel(channels_frame(), TR, value="revenue", kind="money", title="Gelir")
    text = dict(zip(fig.data[0].x, fig.data[0].text, strict=True))
    hover = dict(zip(fig.data[0].x, fig.data[0].customdata, strict=True))
    # Hover: 20000 → ₺20.000,00 (Turkish: dot for thousands, comma for decimals); null revenue → –, not ₺0,00
    assert hover["Mağaza"] == "₺20.000,00"
    assert hover["Web"] == "₺1.234,50"
    assert hover["E-posta"] == MISSING
    # Bar labels: from 10 000 up in thousands (20000 / 1000 = 20,0k) so they fit over the bar; below as is
    assert text["Mağaza"] == "₺20,0k"
    assert text["Web"] == "₺1.234,50"
    assert text["E-posta"] == MISSING
    # the undefined value is drawn as no bar (0) but sorted last
    assert list(fig.data[0].x)[-1] == "E-posta"
    assert fig.layout.separators == ",."
    rate = charts.by_channel(channels_frame(), EN, value="customer_conversion_rate", kind="rate", title="t")
    assert dict(zip(rate.data[0].x, rate.data[0].text, strict=True)) == {
        "Store": "50.0%", "Web": "12.5%", "Email": "0.0%", "Tiktok shop": MISSING}
    assert rate.layout.yaxis.tickformat == ".0%"  # a rate axis reads in percent


def test_cohort_heatmap_marks_partial_cells_and_leaves_missing_cells_empty():
    cohorts = pl.DataFrame({
        "cohort": ["2024-01", "2024-01", "2024-01", "2024-02", "2024-02"],
        "offset": [0, 1, 2, 0, 1],
        "size": [4, 4, 4, 2, 2],
        "active": [4, 1, 2, 2, 0],
        "retention": [1.0, 0.25, 0.5, 1.0, 0.0],
        "revenue": [100.0, 25.0, 50.5, 40.0, 0.0],
        "partial": [False, False, True, False, True],
    })
    fig = charts.cohort_heatmap(cohorts, EN, value="retention", title="Retention")
    heat = fig.data[0]
    assert [list(r) for r in heat.text] == [["100.0%", "25.0%", "50.0%*"], ["100.0%", "0.0%*", ""]]
    assert heat.z[1][2] is None  # 2024-02 +2 lies after as_of: no cell, not 0
    assert "period still running" in heat.customdata[0][2] and "Cohort size 4" in heat.customdata[0][2]
    assert heat.customdata[1][2].endswith(MISSING)
    assert "partial" in fig.layout.title.subtitle.text  # the note sits under the title, off the axis labels
    revenue = charts.cohort_heatmap(cohorts, TR, value="revenue", title="Gelir")
    assert revenue.data[0].text[0][2] == "₺50,50*"


def test_small_samples_are_flagged_and_margins_drawn():
    fig = charts.score_with_moe(channels_frame(), EN, x="channel", value="nps", moe="nps_moe", title="NPS")
    bar = fig.data[0]
    assert list(bar.marker.opacity) == [1.0, 0.35, 0.35, 0.35]  # 400 responses solid; 29, 1 and 0 pale
    assert list(bar.error_y.array) == [5.0, 12.5, 0.0, 0.0]
    assert bar.text[1] == "-10.0 †" and bar.text[3] == MISSING + " †"
    assert bar.customdata[0] == "40.0 ± 5.0 · 400 responses"
    assert "small sample" in bar.customdata[1]
    assert "fewer than 30 responses" in fig.layout.title.subtitle.text


def test_lift_bars_sorted_with_formatted_hover():
    moments = pl.DataFrame({
        "last_touch_channel": ["web", "email", None, "support"],
        "last_touch_event": ["visit", "unsubscribe", None, "support_contact"],
        "customers": [100, 20, 5, 1200],
        "silent": [10, 16, 1, 600],
        "silent_share": [0.1, 0.8, 0.2, 0.5],
        "lift": [0.25, 2.0, 0.5, 1.25],
    })
    fig = charts.lift_bars(moments, EN, title="Lift")
    bar = fig.data[0]
    # horizontal bars drawn bottom-up: the highest lift ends on top
    assert list(bar.x) == [0.25, 0.5, 1.25, 2.0]
    assert bar.y[-1] == "Email · unsubscribe" and bar.y[1] == "Orders but no touch"
    assert bar.customdata[2] == "Lift 1.25 · 50.0% Silent · 1,200 Customers"


def test_attribution_side_by_side_and_sankey_colours():
    rows = [(c, m, 1.0, 10.0) for c in ("web", "store") for m in charts.ATTRIBUTION_MODELS]
    frame = pl.DataFrame(rows, schema=["channel", "model", "conversions", "value"], orient="row")
    fig = charts.attribution(frame, EN, value="value", title="Attribution")
    assert [t.name for t in fig.data] == ["First touch", "Last touch", "Linear", "Time decay", "Position based",
                                          "Markov chain"]
    assert fig.layout.barmode == "group" and fig.data[0].customdata[0] == "$10.00"
    flows = pl.DataFrame({"step": [1, 1, 2], "source": ["web", "store", "email"], "target": ["email", "email", "store"],
                          "customers": [3, 2, 4]})
    sankey = charts.sankey(flows, EN, title="Journeys")
    node = sankey.data[0].node
    assert list(node.label) == ["Web (1)", "Email (2)", "Store (1)", "Store (3)"]
    assert list(node.color) == [charts.channel_colour(c) for c in ("web", "email", "store", "store")]
    assert list(sankey.data[0].link.value) == [3, 2, 4]


def test_nps_over_time_has_error_bars_on_the_overall_line_and_hollow_small_samples():
    frame = pl.DataFrame({
        "period": ["2024-01", "2024-01", "2024-02"], "channel": ["web", None, None],
        "nps": [10.0, 20.0, None], "nps_moe": [30.0, 8.0, None], "responses": [12, 40, 0],
        "csat": [None, None, None], "csat_responses": [0, 0, 0],
    })
    fig = charts.score_over_time(frame, EN, title="NPS")
    overall, web = fig.data
    assert overall.name == "All channels" and list(overall.x) == ["2024-01"]  # the null NPS is left out
    assert list(overall.error_y.array) == [8.0] and web.visible == "legendonly"
    assert list(web.marker.color) == ["white"]  # 12 responses: hollow
    assert charts.score_over_time(frame, EN, value="csat", moe=None, title="CSAT").layout.annotations[0].text \
        == "No data for this view"


@pytest.mark.parametrize("builder", [
    lambda f: charts.by_channel(f, EN, value="revenue", kind="money", title="t"),
    lambda f: charts.trend(f, EN, value="revenue", kind="money", title="t"),
    lambda f: charts.funnel(f, EN, title="t", stages=("awareness",)),
    lambda f: charts.sankey(f, EN, title="t"),
])
def test_an_empty_frame_says_so_instead_of_an_empty_chart(builder):
    fig = builder(pl.DataFrame())
    assert fig.layout.annotations[0].text == "No data for this view"


def test_clv_by_averages_over_buyers_and_groups_three_or_more_channels():
    customers = pl.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"],
        "orders": [1, 3, 0, 2, 5],
        "revenue": [100.0, 300.0, 0.0, 50.0, 250.0],
        "predicted_clv": [10.0, 30.0, None, None, 20.0],
        "n_channels": [1, 3, 1, 4, 1],
        "acquisition_channel": ["web", "store", None, "web", "web"],
    })
    by_n = charts.clv_by(customers, "n_channels")
    # "c" has no order: not a buyer. 1 channel: a, e → (100 + 250) / 2 = 175; 3+: b, d → (300 + 50) / 2 = 175;
    # predicted over the buyers that have one: 1 → (10 + 20) / 2 = 15; 3+ → 30 (d's null is skipped)
    assert by_n.rows() == [("1", 2, 175.0, 15.0), ("3+", 2, 175.0, 30.0)]
    by_channel = charts.clv_by(customers, "acquisition_channel")
    assert by_channel.rows() == [("store", 1, 300.0, 30.0), ("web", 3, 400.0 / 3, 15.0)]


def test_table_columns_label_money_with_the_currency_and_rates_as_percent():
    config = charts.table_columns(TR, {"revenue": "money", "customer_conversion_rate": "rate", "channel": "text"})
    assert config["revenue"]["label"] == "Gelir (₺)"
    assert config["customer_conversion_rate"]["type_config"] == {"type": "number", "format": "percent", "step": 0.001}
    assert config["channel"]["type_config"]["type"] == "text"
    # A score keeps one decimal in the reader's own notation (12,5 in a Turkish browser), not a printf "%.1f"
    # that always writes a point.
    score = charts.table_columns(TR, {"nps": "score"})["nps"]["type_config"]
    assert score == {"type": "number", "format": "localized", "step": 0.1}
    shown = charts.with_channel_labels(pl.DataFrame({"channel": ["mobile_app", None], "n": [1, 2]}), TR)
    assert shown["channel"].to_list() == ["Mobil uygulama", None]


def test_money_labels_shorten_and_the_line_axis_keeps_its_own_format():
    assert charts._short(EN, [2_380_695.89, 15_000, 999.5, None], "money") == [
        "$2.38M",  # 2 380 695.89 / 1e6 = 2.38
        "$15.0k",  # 15 000 / 1e3 = 15.0
        "$999.50", MISSING]
    trend = pl.DataFrame({"period": ["2024-01", "2024-02"], "revenue": [100.0, 250.0],
                          "session_conversion_rate": [0.25, None]})
    fig = charts.trend(trend, EN, value="revenue", kind="money", title="t", secondary="session_conversion_rate")
    assert fig.layout.yaxis.tickprefix == "$"
    assert fig.layout.yaxis2.tickprefix == "" and fig.layout.yaxis2.tickformat == ".0%"
    assert list(fig.data[1].customdata) == ["25.0%", MISSING]


def test_heatmap_colours_scale_on_the_later_periods():
    frame = pl.DataFrame({"cohort": ["2024-01"] * 3, "offset": [0, 1, 2], "size": [4] * 3, "active": [4, 1, 2],
                          "retention": [1.0, 0.25, 0.5], "revenue": [10.0, 5.0, 8.0],
                          "partial": [False, False, True]})
    heat = charts.cohort_heatmap(frame, EN, value="retention", title="r").data[0]
    assert heat.zmin == 0 and heat.zmax == 0.5  # offset 0 (always 100 %) is left out of the scale
