"""The dashboard's URL state helpers (no Streamlit): bounds, clamping, filter options."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from omni_metrics.ui_state import attribute_options, channel_options, clamp_range, date_bounds, settings_query


def test_date_bounds_span_touches_orders_and_surveys():
    tables = {
        "interactions": pl.DataFrame({"timestamp": [datetime(2024, 3, 5, 10), datetime(2024, 2, 1, 23, 59)]}),
        "orders": pl.DataFrame({"timestamp": [datetime(2024, 4, 30, 8)]}),
        "surveys": pl.DataFrame({"timestamp": [None]}, schema={"timestamp": pl.Datetime("us")}),
        "spend": pl.DataFrame({"date": [date(2020, 1, 1)]}),  # spend dates do not widen the range
    }
    assert date_bounds(tables) == (date(2024, 2, 1), date(2024, 4, 30))
    assert date_bounds({"customers": pl.DataFrame({"customer_id": ["1"]})}) is None


def test_clamp_range_fits_a_url_range_to_the_data():
    bounds = (date(2024, 1, 1), date(2024, 12, 31))
    assert clamp_range(None, None, bounds) == bounds
    assert clamp_range(date(2023, 6, 1), date(2024, 3, 1), bounds) == (date(2024, 1, 1), date(2024, 3, 1))
    # A range wholly after the data collapses onto its last day rather than failing.
    assert clamp_range(date(2025, 1, 1), date(2025, 2, 1), bounds) == (date(2024, 12, 31), date(2024, 12, 31))
    # End before start: the end moves up to the start.
    assert clamp_range(date(2024, 5, 1), date(2024, 4, 1), bounds) == (date(2024, 5, 1), date(2024, 5, 1))


def test_filter_options():
    tables = {
        "interactions": pl.DataFrame({"channel": ["web", "email", None]}),
        "spend": pl.DataFrame({"channel": ["social"]}),
    }
    assert channel_options(tables) == ["email", "social", "web"]
    customers = pl.DataFrame({
        "customer_id": ["1", "2", "3"], "signup_date": [date(2024, 1, 1)] * 3,
        "region": ["İzmir", "Ankara", None], "tier": ["gold"] * 3, "age": [30, 40, 50],
        "email": [f"{i}@x" for i in range(3)],
    })
    # One value only (tier) says nothing; numbers (age) are not segments; ids are not attributes.
    assert attribute_options(customers) == {"region": ["Ankara", "İzmir"], "email": ["0@x", "1@x", "2@x"]}
    assert attribute_options(None) == {}


def test_settings_query_drops_the_browsers_own_parameters():
    query = {"ds": "x", "share": "t", "lang": "tr", "page": "channels", "period": "week", "seg.region": "A"}
    assert settings_query(query) == {"period": "week", "seg.region": "A"}
