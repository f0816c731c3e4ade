"""The dashboard's URL state without Streamlit: which query parameters make a view, and a share link's URL.

The URL is the one place a view lives. Its parameters are `Settings.to_query()` (defaults left out) plus:
- `page`: the page a share link opens on (the app moves it into the path on arrival);
- `ds`: the dataset this browser is looking at (its own upload; never in a share link);
- `share`: a share-link token (the link's dataset; read-only);
- `lang`: the interface language (the reader's choice, so never in a share link either).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from urllib.parse import urlencode

import polars as pl

from omni_metrics.report import Settings

BROWSER_PARAMS = ("ds", "share", "lang")
# The pages in navigation order: (file stem under pages/, title key, Material icon). Overview opens first.
PAGES = (
    ("overview", "nav.overview", ":material/dashboard:"),
    ("channels", "nav.channels", ":material/alt_route:"),
    ("retention", "nav.retention", ":material/grid_on:"),
    ("customer_value", "nav.customer_value", ":material/payments:"),
    ("satisfaction", "nav.satisfaction", ":material/sentiment_satisfied:"),
    ("silence", "nav.silence", ":material/notifications_paused:"),
    ("journeys", "nav.journeys", ":material/route:"),
    ("data", "nav.data", ":material/upload_file:"),
)
PAGE_PARAM = "page"
DEFAULT_PAGE = "overview"
# Customer columns that are not attributes one filters by.
NOT_ATTRIBUTES = ("customer_id", "signup_date")
MAX_ATTRIBUTE_VALUES = 200


def view_query(settings: Settings, page: str | None = None) -> dict[str, str]:
    """What a share link carries: the settings (defaults left out) and the page to open."""
    query = settings.to_query()
    if page and page != DEFAULT_PAGE:
        query[PAGE_PARAM] = page
    return query


def browser_query(settings: Settings, *, dataset: str | None = None, share: str | None = None,
                  lang: str | None = None) -> dict[str, str]:
    """The address bar of this browser: the view plus what only this browser holds."""
    query = settings.to_query()
    if share:
        query["share"] = share
    elif dataset:
        query["ds"] = dataset
    if lang and lang != "en":
        query["lang"] = lang
    return query


def settings_query(query: Mapping[str, str]) -> dict[str, str]:
    """The part of a URL's parameters that describes the view (the browser's own parameters removed)."""
    return {k: v for k, v in query.items() if k not in BROWSER_PARAMS and k != PAGE_PARAM}


def share_url(base_url: str, token: str, view: Mapping[str, str]) -> str:
    """The link to hand out: the app's address, the token, then the view."""
    base = (base_url or "").split("?")[0].rstrip("/")
    return f"{base}/?{urlencode([('share', token), *sorted(view.items())])}"


def date_bounds(tables: Mapping[str, pl.DataFrame]) -> tuple[date, date] | None:
    """First and last calendar date with a touch, an order or a survey answer (None for no such rows)."""
    lows, highs = [], []
    for name in ("interactions", "orders", "surveys"):
        frame = tables.get(name)
        if frame is None or "timestamp" not in frame.columns or frame.height == 0:
            continue
        row = frame.select(lo=pl.col("timestamp").min(), hi=pl.col("timestamp").max()).row(0)
        if row[0] is not None:
            lows.append(row[0])
            highs.append(row[1])
    if not lows:
        return None
    return min(lows).date(), max(highs).date()


def clamp_range(start: date | None, end: date | None, bounds: tuple[date, date]) -> tuple[date, date]:
    """A date range from the URL made to fit the data (a link made on other data must still open)."""
    lo, hi = bounds
    start = min(max(start or lo, lo), hi)
    end = max(min(end or hi, hi), start)
    return start, end


def channel_options(tables: Mapping[str, pl.DataFrame]) -> list[str]:
    """Every channel seen in touches, orders, spend or surveys (METRICS.md conventions), sorted."""
    seen: set[str] = set()
    for name in ("interactions", "orders", "spend", "surveys"):
        frame = tables.get(name)
        if frame is not None and "channel" in frame.columns:
            seen.update(frame["channel"].drop_nulls().unique().to_list())
    return sorted(seen)


def attribute_options(customers: pl.DataFrame | None) -> dict[str, list[str]]:
    """Customer attributes one can filter by: text columns with 2 to 200 distinct values, and their values."""
    if customers is None or customers.height == 0:
        return {}
    out: dict[str, list[str]] = {}
    for column, dtype in customers.schema.items():
        if column in NOT_ATTRIBUTES or dtype != pl.String:
            continue
        values = customers[column].drop_nulls().unique()
        if 1 < values.len() <= MAX_ATTRIBUTE_VALUES:
            out[column] = sorted(values.to_list())
    return out
