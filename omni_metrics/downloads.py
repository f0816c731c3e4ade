"""CSV downloads that are safe to open in a spreadsheet."""

from __future__ import annotations

import polars as pl

# A text cell starting with one of these is run as a formula by Excel/Sheets/LibreOffice ("CSV injection").
_FORMULA_START = r"^[=+\-@\t\r]"


def escape_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells a spreadsheet would run as a formula with `'`; numbers and dates stay as they are."""
    frame = frame.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))
    text = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_START)).then("'" + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text
    )


def to_csv_bytes(frame: pl.DataFrame) -> bytes:
    """UTF-8 CSV with a BOM (so Excel reads Turkish letters right), formulas escaped, lists joined by ` > `."""
    lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
    frame = frame.with_columns(pl.col(c).cast(pl.List(pl.String)).list.join(" > ") for c in lists)
    return "\ufeff".encode() + escape_formulas(frame).write_csv().encode()
