"""Property tests of the loader: generated orders in any supported dialect load back to the same rows."""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from omni_metrics.loading import LoadError, load_file
from omni_metrics.schema import CHANNELS, ORDER_STATUSES, TABLES

# LOADING_EXAMPLES=1000 for a longer hunt.
SETTINGS = settings(max_examples=int(os.environ.get("LOADING_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

ENCODINGS = {  # encoding → (bytes prefix, letters ids may use, currency signs it can write)
    "utf-8": (b"", "0123456789ABCçğışİüö", ("₺", "TL", "$", "€", "")),
    "utf-8-sig": (b"\xef\xbb\xbf", "0123456789ABCçğış", ("₺", "TL", "")),
    "utf-16": (b"", "0123456789ABCğış", ("₺", "$", "")),
    "cp1254": (b"", "0123456789ABCçğışİüö", ("TL", "€", "")),
    "cp1252": (b"", "0123456789ABCéüß", ("$", "€", "")),
}
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%d.%m.%Y %H:%M:%S",
                "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "epoch_s", "epoch_ms")
BAD = {  # an injected bad row: which field is broken how, and the reason the loader must give
    "missing_order_id": ("order_id", ""),
    "missing_customer_id": ("customer_id", "N/A"),
    "unparseable_date": ("timestamp", "31.02.2024 10:00:00"),
    "missing_channel": ("channel", "-"),
    "non_numeric_revenue": ("revenue", "abc"),
    "negative_revenue": ("revenue", "-5"),
}


def _money(cents: int, mark: str, thousands: bool, currency: str, after: bool) -> str:
    whole, frac = divmod(cents, 100)
    digits = f"{whole:,}".replace(",", "." if mark == "," else ",") if thousands else str(whole)
    text = f"{digits}{mark}{frac:02d}"
    if not currency:
        return text
    return f"{text} {currency}" if after else f"{currency}{text}"


def _date(ts: datetime, fmt: str) -> str:
    epoch = int((ts - datetime(1970, 1, 1)).total_seconds())
    if fmt == "epoch_s":
        return str(epoch)
    if fmt == "epoch_ms":
        return str(epoch * 1000)
    return ts.strftime(fmt)


@st.composite
def dialect_and_orders(draw):
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    prefix, letters, currencies = ENCODINGS[encoding]
    n = draw(st.integers(1, 25))
    ids = st.text(alphabet=letters, min_size=1, max_size=6)
    rows = []
    for _ in range(n):
        rows.append({
            "order_id": draw(ids),
            "customer_id": draw(ids),
            "timestamp": datetime(2020, 1, 1) + timedelta(seconds=draw(st.integers(0, 6 * 365 * 86400))),
            "channel": draw(st.sampled_from(CHANNELS)),
            "revenue": draw(st.integers(0, 10**9)),
            "status": draw(st.sampled_from(ORDER_STATUSES)),
            "margin": draw(st.one_of(st.none(), st.integers(0, 10**6))),
        })
    dialect = {
        "encoding": encoding, "prefix": prefix,
        "delimiter": draw(st.sampled_from([",", ";", "\t", "|"])),
        "mark": draw(st.sampled_from([",", "."])),
        "thousands": draw(st.booleans()),
        "currency": draw(st.sampled_from(currencies)),
        "after": draw(st.booleans()),
        "date": draw(st.sampled_from(DATE_FORMATS)),
        "with_margin": draw(st.booleans()),
        "with_status": draw(st.booleans()),
    }
    if dialect["date"] == "%m/%d/%Y %H:%M:%S":
        assume(any(r["timestamp"].day > 12 for r in rows))  # otherwise DATA.md reads it day-first
    headers = {}
    for name in ["order_id", "customer_id", "timestamp", "channel", "revenue", "status", "margin"]:
        alias = draw(st.sampled_from(TABLES["orders"].column(name).aliases))
        style = draw(st.sampled_from(["plain", "upper", "title"]))
        headers[name] = {"plain": alias, "upper": alias.upper(),
                         "title": alias.replace("_", " ").title()}[style]
    assume(len({h.lower().replace(" ", "_") for h in headers.values()}) == len(headers))
    order = draw(st.permutations(list(headers)))
    bad = draw(st.lists(st.tuples(st.sampled_from(sorted(BAD)), st.integers(0, n)), max_size=4))
    duplicates = draw(st.lists(st.integers(0, n - 1), max_size=3))
    return dialect, rows, headers, order, bad, duplicates


def render(dialect, rows, headers, order, bad, duplicates) -> tuple[bytes, list[dict], list[str]]:
    """The file's bytes, the rows expected back, and the reasons expected for set-aside rows."""
    columns = [c for c in order if (c != "margin" or dialect["with_margin"]) and (c != "status" or
                                                                                   dialect["with_status"])]
    good = list(rows) + [dict(rows[i], revenue=rows[i]["revenue"] + 1) for i in duplicates]
    lines: list[dict[str, str]] = []
    for row in good:
        lines.append({
            "order_id": row["order_id"], "customer_id": row["customer_id"],
            "timestamp": _date(row["timestamp"], dialect["date"]),
            "channel": row["channel"],
            "revenue": _money(row["revenue"], dialect["mark"], dialect["thousands"], dialect["currency"],
                              dialect["after"]),
            "status": row["status"],
            "margin": "" if row["margin"] is None else _money(row["margin"], dialect["mark"], False, "", False),
        })
    reasons = []
    originals = list(lines)
    for reason, position in bad:  # bad rows go anywhere; each breaks one field of a copy of a good line
        field, value = BAD[reason]
        broken = dict(originals[min(position, len(originals) - 1)], **{field: value})
        lines.insert(position, broken)
        reasons.append(reason)
    # Money is always written with two decimals, so every value tells the decimal mark.
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=dialect["delimiter"], lineterminator="\n")
    writer.writerow([headers[c] for c in columns])
    writer.writerows([[line[c] for c in columns] for line in lines])
    data = dialect["prefix"] + buffer.getvalue().encode(dialect["encoding"])
    # Expected: the good rows, duplicates resolved (the last one wins, at its own position).
    last = {r["order_id"]: i for i, r in enumerate(good)}
    expected = [dict(r, status=r["status"] if dialect["with_status"] else "completed",
                     margin=r["margin"] if dialect["with_margin"] else None)
                for i, r in enumerate(good) if last[r["order_id"]] == i]
    return data, expected, reasons


@SETTINGS
@given(dialect_and_orders())
def test_generated_orders_in_any_dialect_load_back(case):
    dialect, rows, headers, order, bad, duplicates = case
    data, expected, reasons = render(*case)
    result = load_file(data, "export.csv")
    r = result.report
    assert r.table == "orders"
    assert r.rows_read == r.rows_used + sum(r.set_aside.values()) + r.duplicates_dropped
    got = result.frame
    want = pl.DataFrame(
        {
            "order_id": [e["order_id"] for e in expected],
            "customer_id": [e["customer_id"] for e in expected],
            "timestamp": [e["timestamp"] for e in expected],
            "channel": [e["channel"] for e in expected],
            "revenue": [e["revenue"] / 100 for e in expected],
            "status": [e["status"] for e in expected],
            "margin": [None if e["margin"] is None else e["margin"] / 100 for e in expected],
        },
        schema=TABLES["orders"].dtypes,
    )
    # Injected bad rows may carry an order_id a good row also has; they are set aside before duplicates
    # are resolved, so the good rows alone decide which one wins.
    assert got.to_dicts() == want.to_dicts(), (dialect, r.notes)
    assert sorted(result.set_aside["reason"].to_list()) == sorted(reasons)
    expected_encoding = {"utf-16": "utf-16-le", "cp1254": "windows-1254", "cp1252": "windows-1252"}
    if not data.isascii() and dialect["encoding"] in expected_encoding and dialect["encoding"] != "cp1254":
        assert r.encoding == expected_encoding[dialect["encoding"]]
    assert r.delimiter == dialect["delimiter"]


@SETTINGS
@given(st.binary(max_size=2000), st.sampled_from([b"", b"PK\x03\x04", b"\x1f\x8b", b"PAR1", b"\xef\xbb\xbf",
                                                  b"\xff\xfe", b"\xfe\xff", b"order_id,customer_id\n"]))
def test_arbitrary_bytes_raise_nothing_but_load_error(data, prefix):
    try:
        result = load_file(prefix + data, "random.csv")
    except LoadError as exc:
        assert str(exc).startswith("random.csv: ")
    else:
        r = result.report
        assert r.rows_read == r.rows_used + sum(r.set_aside.values()) + r.duplicates_dropped


@SETTINGS
@given(st.text(max_size=300), st.sampled_from([",", ";", "\t", "|"]))
def test_arbitrary_text_under_a_valid_header_never_escapes(text, delimiter):
    header = delimiter.join(["customer_id", "timestamp", "channel", "event_type"])
    try:
        result = load_file((header + "\n" + text).encode("utf-8"), "t.csv")
    except LoadError:
        return
    r = result.report
    assert r.rows_read == r.rows_used + sum(r.set_aside.values()) + r.duplicates_dropped
    assert result.set_aside.height == sum(r.set_aside.values())
