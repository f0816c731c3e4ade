"""Any export file → a canonical polars table, the rows set aside with their reasons, and a load report."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from omni_metrics import dialects
from omni_metrics.i18n import Message
from omni_metrics.schema import (
    CHANNELS,
    EVENT_TYPES,
    ORDER_STATUSES,
    SCORE_RANGE,
    TABLE_NAMES,
    TABLES,
    empty_frame,
    header_key,
    normalise_channel,
    normalise_name,
    normalise_status,
)

SUPPORTED_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".zip", ".xlsx", ".parquet")
MAX_BYTES = 1 << 30  # 1 GB

# The key a duplicate is recognised by (DATA.md: the last row wins).
DUPLICATE_KEYS = {"orders": "order_id", "customers": "customer_id"}

# When two tables explain a header equally well, the more specific one wins.
_TABLE_PRIORITY = {name: i for i, name in enumerate(("interactions", "orders", "surveys", "spend", "customers"))}

_ROW = "__row"


class LoadError(Exception):
    """A file that cannot be used at all; the message names the file, the problem and what was expected."""

    def __init__(self, file: str, problem: str):
        super().__init__(f"{file}: {problem}")
        self.file = file
        self.problem = problem


@dataclass
class LoadReport:
    file: str
    table: str
    encoding: str | None = None
    delimiter: str | None = None
    decimal: dict[str, str] = field(default_factory=dict)  # {header: "," or "."} for each number column
    date_format: dict[str, str] = field(default_factory=dict)  # {header: format(s) read}
    rows_read: int = 0
    rows_used: int = 0
    set_aside: dict[str, int] = field(default_factory=dict)
    duplicates_dropped: int = 0
    mapping: dict[str, str] = field(default_factory=dict)  # {canonical column: header}
    unused_columns: list[str] = field(default_factory=list)
    emptied: dict[str, int] = field(default_factory=dict)  # optional column → unparseable values left empty
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadResult:
    frame: pl.DataFrame
    set_aside: pl.DataFrame  # file, row, reason, then the original columns as strings
    report: LoadReport

    @property
    def table(self) -> str:
        return self.report.table


@dataclass
class LoadedData:
    tables: dict[str, pl.DataFrame]
    set_aside: pl.DataFrame
    reports: list[LoadReport]

    def rows(self) -> dict[str, dict[str, Any]]:
        """Per table: {read, used, set_aside: {reason: n}, duplicates_dropped}."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.reports:
            row = out.setdefault(r.table, {"read": 0, "used": 0, "set_aside": {}, "duplicates_dropped": 0})
            row["read"] += r.rows_read
            row["used"] += r.rows_used
            row["duplicates_dropped"] += r.duplicates_dropped
            for reason, n in r.set_aside.items():
                row["set_aside"][reason] = row["set_aside"].get(reason, 0) + n
        return out


# --- which table, which columns -------------------------------------------------------------------------

def propose_mapping(table: str, headers: Iterable[str]) -> dict[str, str]:
    """{canonical column: header} from the known aliases; required columns choose first, each header once."""
    spec = TABLES[table]
    keyed = [(h, header_key(h)) for h in headers]
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for col in sorted(spec.columns, key=lambda c: not c.required):
        names = (col.name, *col.aliases)
        best = min(((names.index(k), i, h) for i, (h, k) in enumerate(keyed) if k in names and h not in used),
                   default=None)
        if best is not None:
            mapping[col.name] = best[2]
            used.add(best[2])
    return mapping


def rank_tables(headers: Iterable[str]) -> list[tuple[str, dict[str, str]]]:
    """Tables whose required columns all map, best first (most mapped columns, then most specific)."""
    headers = list(headers)
    fits = []
    for name in TABLE_NAMES:
        mapping = propose_mapping(name, headers)
        if all(c in mapping for c in TABLES[name].required):
            signature = sum(c in mapping for c in TABLES[name].signature)
            fits.append(((-len(mapping), -signature, _TABLE_PRIORITY[name]), name, mapping))
    return [(name, mapping) for _, name, mapping in sorted(fits)]


def detect_table(headers: Iterable[str]) -> str | None:
    """Which canonical table a file is, from its header alone; None when no table fits."""
    ranked = rank_tables(headers)
    return ranked[0][0] if ranked else None


def _aliases_text(table: str, column: str, limit: int = 8) -> str:
    col = TABLES[table].column(column)
    names = [a for a in col.aliases if a != column][:limit]
    if not names:
        return f"`{column}`"
    return Message("load.aliases", f"`{column}` (or {', '.join(names)}…)", column=column, names=", ".join(names))


def _missing_required_message(table: str, headers: list[str], mapping: Mapping[str, str]) -> str:
    missing = [c for c in TABLES[table].required if c not in mapping]
    expected = [_aliases_text(table, c) for c in missing]
    found = ", ".join(repr(h) for h in headers)
    return Message("load.missing_required",
                   f"required column(s) {', '.join(missing)} of the {table} table not found among the columns "
                   f"{found}; expected " + "; ".join(expected),
                   missing=", ".join(missing), table=_table(table), headers=found, expected=expected)


def _table(name: str) -> Message:
    """A table's name, shown as the UI names it (`table.<name>`)."""
    return Message(f"table.{name}", name)


def _no_table_message(headers: list[str]) -> str:
    closest = max(TABLE_NAMES, key=lambda t: (sum(c in propose_mapping(t, headers) for c in TABLES[t].required),
                                              -_TABLE_PRIORITY[t]))
    expected = [Message("load.table_columns", f"{t}: {', '.join(TABLES[t].required)}", table=_table(t),
                        columns=", ".join(TABLES[t].required)) for t in TABLE_NAMES]
    found = ", ".join(repr(h) for h in headers)
    missing = _missing_required_message(closest, headers, propose_mapping(closest, headers))
    return Message("load.no_table",
                   f"cannot tell which table this is from its columns ({found}). Expected the required columns of "
                   f"one table — {'; '.join(expected)}. Closest is {closest}: " + missing,
                   found=found, expected=expected, closest=_table(closest), missing=missing)


# --- entry points ---------------------------------------------------------------------------------------

def _read_source(source: Any, name: str | None, max_bytes: int) -> tuple[bytes | Path, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = name or "upload"
    elif hasattr(source, "read"):  # an open file or an uploaded file
        name = name or Path(getattr(source, "name", "upload")).name
        data = source.read(max_bytes + 1)
    else:
        path = Path(source)
        name = name or path.name
        try:
            size = path.stat().st_size
            with path.open("rb"):
                pass
        except OSError as exc:
            raise LoadError(name, Message("load.cannot_open", f"cannot be opened ({exc.strerror or exc}); expected a "
                                                   "readable file", detail=str(exc.strerror or exc))) from None
        if size > max_bytes:
            raise LoadError(name, Message("load.too_large_bytes", f"it is {size:,} bytes, larger than the limit of "
                                                 f"{max_bytes:,} bytes", size=size, limit=max_bytes))
        if not path.is_file():
            raise LoadError(name, Message("load.not_a_file", "it is not a file; expected a CSV, .csv.gz, .zip, .xlsx or "
                                                 ".parquet file"))
        return path, name
    if len(data) > max_bytes:
        raise LoadError(name, Message("load.too_large", f"it is larger than the limit of {max_bytes:,} bytes",
                                      limit=max_bytes))
    return data, name


def load_file(
    source: Any,
    name: str | None = None,
    *,
    table: str | None = None,
    mapping: Mapping[str, str] | None = None,
    timezone: str = "UTC",
    max_bytes: int = MAX_BYTES,
) -> LoadResult:
    """Read one file (a path, or bytes with `name`) into its canonical table. `table`/`mapping` override
    what the header suggests. Every whole-file problem raises LoadError; bad rows are set aside."""
    label = name or (Path(source).name if isinstance(source, (str, Path)) else "upload")
    try:
        _check_timezone(timezone)
        data, label = _read_source(source, name, max_bytes)
        try:
            raw = dialects.read_raw(data, label, max_bytes)
        except dialects.DialectError as exc:
            raise LoadError(label, exc.message) from None
        del data
        return _load_raw(raw, label, table, mapping, timezone)
    except LoadError:
        raise
    except MemoryError:
        raise LoadError(label, Message("load.memory", "it does not fit in memory; expected a smaller file")) from None
    except Exception as exc:  # anything unforeseen still reaches the user as one clear line
        raise LoadError(label, _unreadable(exc)) from None


def _unreadable(exc: Exception) -> Message:
    detail = f"{type(exc).__name__}: {exc}"
    return Message("load.unreadable", f"could not be read ({detail})", detail=detail)


def read_headers(source: Any, name: str | None = None, max_bytes: int = MAX_BYTES) -> list[str]:
    """The file's column names as load_file sees them (trimmed, for a mapping editor), reading only the
    head of a CSV; LoadError when it cannot be read."""
    label = name or (Path(source).name if isinstance(source, (str, Path)) else "upload")
    try:
        data, label = _read_source(source, name, max_bytes)
        head = dialects.read_head(data)
        if head is None:  # a container (gzip, zip, xlsx, parquet): open it for real
            head = dialects.read_raw(data, label, max_bytes).frame.head(0)
        return _tidy_headers(head).columns
    except LoadError:
        raise
    except dialects.DialectError as exc:
        raise LoadError(label, exc.message) from None
    except Exception as exc:
        raise LoadError(label, _unreadable(exc)) from None


def load_files(
    sources: Iterable[Any],
    *,
    timezone: str = "UTC",
    overrides: Mapping[str, Any] | None = None,
    max_bytes: int = MAX_BYTES,
) -> LoadedData:
    """Load several files: tables recognised from headers, files of one table stacked in the order given,
    duplicates across files dropped (the last wins) and counted on the file whose row lost."""
    overrides = overrides or {}
    results: list[LoadResult] = []
    for source in sources:
        src, name = (source if isinstance(source, tuple) else (source, None))
        file_name = name or (Path(src).name if isinstance(src, (str, Path)) else None)
        override = overrides.get(file_name or "")
        table, mapping = (override if isinstance(override, tuple) else (override, None))
        results.append(load_file(src, file_name, table=table, mapping=mapping, timezone=timezone,
                                 max_bytes=max_bytes))
    try:
        return _combine(results)
    except Exception as exc:
        raise LoadError(", ".join(r.report.file for r in results), Message("load.not_combined", f"could not be combined ({exc})",
                                                                              detail=str(exc))) from None


def _combine(results: list[LoadResult]) -> LoadedData:
    tables: dict[str, pl.DataFrame] = {}
    for name in TABLE_NAMES:
        group = [r for r in results if r.table == name]
        if not group:
            continue
        if len(group) == 1:
            tables[name] = group[0].frame
            continue
        frames = [r.frame.with_columns(pl.lit(i, pl.Int32).alias("__file")) for i, r in enumerate(group)]
        stacked = pl.concat(frames, how="diagonal_relaxed")
        canonical = list(TABLES[name].dtypes)
        extras = [c for c in stacked.columns if c not in canonical and c != "__file"]
        stacked = stacked.select(*canonical, *extras, "__file")
        key = DUPLICATE_KEYS.get(name)
        if key:
            stacked = stacked.with_row_index("__i")
            kept = stacked.unique(subset=[key], keep="last", maintain_order=True)
            lost = stacked.filter(~pl.col("__i").is_in(kept["__i"].implode())).group_by("__file").len()
            for file_index, n in lost.iter_rows():
                report = group[file_index].report
                report.duplicates_dropped += n
                report.rows_used -= n
                report.notes.append(Message("load.dropped_across_files", f"{n:,} row(s) with a {key} also in a "
                                            "later file dropped (the last one wins)", n=n, key=key))
            stacked = kept.drop("__i")
        tables[name] = stacked.drop("__file")
    asides = [r.set_aside for r in results if r.set_aside.height]
    set_aside = pl.concat(asides, how="diagonal_relaxed") if asides else _empty_aside()
    return LoadedData(tables, set_aside, [r.report for r in results])


def _check_timezone(tz: str) -> None:
    try:
        zoneinfo.ZoneInfo(tz)
    except Exception:
        raise LoadError("settings", Message("load.unknown_timezone", f"unknown time zone {tz!r}; expected an "
                                            "IANA name such as 'UTC' or 'Europe/Istanbul'", tz=repr(tz))) from None


def _empty_aside() -> pl.DataFrame:
    return pl.DataFrame(schema={"file": pl.String, "row": pl.Int64, "reason": pl.String})


# --- one raw table → canonical --------------------------------------------------------------------------

_VALUE_LIKE = re.compile(r"^[-+]?[\d.,:/ T]+$|^$")


def _tidy_headers(frame: pl.DataFrame) -> pl.DataFrame:
    """Trim header names; drop unnamed empty columns (a trailing delimiter); name other unnamed ones."""
    keep, names, seen = [], [], set()
    for i, col in enumerate(frame.columns):
        name = col.strip().lstrip("\ufeff")
        if not name and frame[col].null_count() == frame.height:
            continue
        name = name or f"column_{i + 1}"
        while name in seen:
            name += "_"
        seen.add(name)
        keep.append(col)
        names.append(name)
    return frame.select(pl.col(c).alias(n) for c, n in zip(keep, names, strict=True))


def _load_raw(raw: dialects.RawTable, file: str, table: str | None, mapping: Mapping[str, str] | None,
              tz: str) -> LoadResult:
    frame = _tidy_headers(raw.frame)
    headers = frame.columns
    if not headers:
        raise LoadError(file, Message("load.no_header", "it has no header row; expected column names on the "
                                                        "first line"))
    if table is not None and table not in TABLES:
        raise LoadError(file, Message("load.unknown_table", f"unknown table {table!r}; expected one of "
                                      f"{', '.join(TABLE_NAMES)}", table=repr(table), tables=", ".join(TABLE_NAMES)))
    if mapping is not None:
        mapping = {k: v.strip() for k, v in mapping.items() if v}
        bad = [f"{k} → {v!r}" for k, v in mapping.items() if v not in headers]
        if bad:
            found = ", ".join(repr(h) for h in headers)
            raise LoadError(file, Message("load.mapping_bad_headers", f"the mapping names columns the file does "
                                          f"not have ({', '.join(bad)}); its columns are {found}",
                                          bad=", ".join(bad), headers=found))
    if table is None:
        if mapping is not None:
            table = next((t for t in TABLE_NAMES if set(mapping) <= set(TABLES[t].dtypes)
                          and all(c in mapping for c in TABLES[t].required)), None)
        else:
            ranked = rank_tables(headers)
            table = ranked[0][0] if ranked else None
        if table is None:
            if any(_VALUE_LIKE.match(h) for h in headers):  # real headers are never numbers or dates
                raise LoadError(file, Message("load.values_as_header", f"it has no header row (the first line "
                                              f"holds values: {', '.join(headers[:6])}); expected column names on "
                                              "the first line", values=", ".join(headers[:6])))
            raise LoadError(file, _no_table_message(headers))
    if mapping is None:
        mapping = propose_mapping(table, headers)
    unknown = [c for c in mapping if c not in TABLES[table].dtypes]
    if unknown:
        raise LoadError(file, Message("load.mapping_unknown", f"the mapping names {', '.join(unknown)}, which the "
                                      f"{table} table does not have; expected columns among "
                                      f"{', '.join(TABLES[table].dtypes)}", unknown=", ".join(unknown),
                                      table=_table(table), columns=", ".join(TABLES[table].dtypes)))
    if any(c not in mapping for c in TABLES[table].required):
        raise LoadError(file, _missing_required_message(table, headers, mapping))

    report = LoadReport(file=file, table=table, encoding=raw.encoding, delimiter=raw.delimiter,
                        mapping=dict(mapping), notes=list(raw.notes))
    mapped = set(mapping.values())
    extras = [h for h in headers if h not in mapped]
    if TABLES[table].keeps_extra_columns:
        extras = [h for h in extras if h not in TABLES[table].dtypes]
        if extras:
            report.notes.append(Message("load.kept_attributes", f"kept as customer attributes: {', '.join(extras)}",
                                        columns=", ".join(extras)))
    else:
        report.unused_columns = extras
        if extras:
            report.notes.append(Message("load.columns_unused", f"columns not used: {', '.join(extras)}",
                                        columns=", ".join(extras)))

    frame = frame.with_row_index(_ROW, offset=1)
    # Blank lines are not rows: they are skipped (and said so) rather than set aside.
    if headers:
        blank = frame.select(pl.all_horizontal(pl.col(h).is_null() for h in headers)).to_series()
        n_blank = int(blank.sum())
        if n_blank:
            frame = frame.filter(~blank)
            report.notes.append(Message("load.blank_lines", f"{n_blank:,} blank line(s) skipped", n=n_blank))
    report.rows_read = frame.height
    if frame.height == 0:
        report.notes.append(Message("load.no_rows", "the file has a header but no rows: loaded as an empty table"))
        canon = empty_frame(table)
        if TABLES[table].keeps_extra_columns:
            canon = canon.with_columns(pl.lit(None, pl.String).alias(h) for h in extras)
        return LoadResult(canon, _empty_aside(), report)

    canon, reason = _canonical(frame, table, mapping, extras, tz, raw, report)
    aside_mask = reason.is_not_null()
    n_aside = int(aside_mask.sum())
    if n_aside:
        originals = frame.filter(aside_mask)
        renamed = {c: (f"{c}_original" if c in ("file", "row", "reason") else c) for c in headers}
        set_aside = originals.select(
            pl.lit(file).alias("file"),
            pl.col(_ROW).cast(pl.Int64).alias("row"),
            pl.lit(reason.filter(aside_mask)).alias("reason"),
            *[pl.col(c).cast(pl.String).alias(renamed[c]) for c in headers],
        )
        counts = set_aside.group_by("reason").len().sort("reason")
        report.set_aside = dict(counts.iter_rows())
        canon = canon.filter(~aside_mask)
        summary = [Message("load.reason_count", f"{n:,} {r}", n=n, reason=Message(f"reason.{r}", r))
                   for r, n in report.set_aside.items()]
        report.notes.append(Message("load.set_aside", f"{n_aside:,} row(s) set aside: {', '.join(summary)}",
                                    n=n_aside, summary=summary))
    else:
        set_aside = _empty_aside()
    del frame

    key = DUPLICATE_KEYS.get(table)
    if key and canon.height and canon[key].n_unique() < canon.height:  # n_unique: a cheap test first
        before = canon.height
        canon = canon.unique(subset=[key], keep="last", maintain_order=True)
        report.duplicates_dropped = before - canon.height
        if report.duplicates_dropped:
            report.notes.append(Message("load.duplicates", f"{report.duplicates_dropped:,} duplicate {key} row(s) "
                                        "dropped (the last one wins)", n=report.duplicates_dropped, key=key))
    report.rows_used = canon.height
    return LoadResult(canon, set_aside, report)


# --- values ---------------------------------------------------------------------------------------------

_ID_COLUMNS = {"customer_id", "order_id", "session_id"}
_DATETIME_COLUMNS = {"timestamp"}
_DATE_COLUMNS = {"date", "signup_date"}
_NUMBER_COLUMNS = {"revenue", "margin", "spend", "impressions", "clicks", "score"}


def _count_others(values: pl.Series, known: Iterable[str], limit: int = 8) -> tuple[int, str]:
    """How many values fall outside `known`, and the commonest of them with their counts."""
    counts = values.drop_nulls().value_counts(sort=True, name="n")
    counts = counts.filter(~pl.col(values.name).is_in(list(known)))
    text = ", ".join(f"{v} ({n:,})" for v, n in counts.head(limit).iter_rows())
    return int(counts["n"].sum()), text + (", …" if counts.height > limit else "")


_NORMALISE = {"channel": normalise_channel, "event_type": normalise_name, "survey_type": normalise_name,
              "status": normalise_status}


def _typed_to_text(series: pl.Series) -> pl.Series:
    """Typed cells (parquet) as the text an export would hold; integral floats lose their `.0`."""
    if series.dtype.is_float() and series.drop_nulls().len() and (series == series.round()).all():
        series = series.cast(pl.Int64)
    return series.cast(pl.String)


def _canonical(frame: pl.DataFrame, table: str, mapping: Mapping[str, str], extras: list[str], tz: str,
               raw: dialects.RawTable, report: LoadReport) -> tuple[pl.DataFrame, pl.Series]:
    """The canonical columns and, per row, the reason it is set aside (null for rows used).

    Decisions first (distinct names, decimal marks, date formats: one pass over the values), then every
    column in a single select so polars reads them in parallel."""
    spec = TABLES[table]
    c = pl.col
    # Typed sources: keep dates and numbers typed where the canonical column wants them, else text.
    typed: dict[str, pl.DataType] = {}
    casts = []
    for name, header in mapping.items():
        dtype = frame.schema[header]
        if dtype == pl.String:
            continue
        temporal = dtype == pl.Date or isinstance(dtype, pl.Datetime)
        if (temporal and name in _DATETIME_COLUMNS | _DATE_COLUMNS) or (dtype.is_numeric()
                                                                         and name in _NUMBER_COLUMNS):
            typed[name] = dtype
        else:
            casts.append(_typed_to_text(frame[header]))
    if casts:
        frame = frame.with_columns(casts)

    stats_exprs: list[pl.Expr] = []
    for name, header in mapping.items():
        if name in typed:
            continue
        if name in _NORMALISE:
            stats_exprs.append(c(header).unique().implode().alias(f"{name}:distinct"))
        elif name in _NUMBER_COLUMNS:
            # Plain numbers (`1234.5`) cast directly: the fast path, when it cannot be a decimal comma.
            stats_exprs += [(c(header).cast(pl.Float64, strict=False).is_null() & c(header).is_not_null()).any()
                            .alias(f"{name}:not_plain"),
                            c(header).str.contains(".", literal=True).any().alias(f"{name}:dot"),
                            c(header).str.contains(dialects.AMBIGUOUS_MARK).any().alias(f"{name}:ambiguous"),
                            c(header).str.contains(dialects.POINT_DECIMAL).any().alias(f"{name}:point")]
        elif name not in _DATETIME_COLUMNS | _DATE_COLUMNS:
            stats_exprs += dialects.needs_cleaning(c(header), header)
    if spec.keeps_extra_columns:
        stats_exprs += [e for h in extras for e in dialects.needs_cleaning(c(h).cast(pl.String), h)]
    stats = frame.select(stats_exprs).row(0, named=True) if stats_exprs else {}
    default_mark = "," if raw.delimiter == ";" else "."
    plain = {name for name in _NUMBER_COLUMNS & set(mapping) if name not in typed
             and not stats[f"{name}:not_plain"] and (default_mark == "." or not stats[f"{name}:dot"])}
    evidence = [e.alias(f"{name}:{k}") for name in _NUMBER_COLUMNS & set(mapping) if name not in typed and name not in plain
                for k, e in zip(("comma", "point"), dialects.decimal_evidence(dialects.number_text(c(mapping[name]))),
                                strict=True)]
    if evidence:
        stats.update(frame.select(evidence).row(0, named=True))

    def text(header: str) -> pl.Expr:
        """Cleaned text; the file's own column (no copy) when no value is padded or a missing marker."""
        if stats.get(f"{header}:padded") is False and stats.get(f"{header}:marker") is False:
            return c(header)
        return dialects.clean_text(c(header))

    exprs: list[pl.Expr] = []
    plans: dict[str, dialects.DatePlan] = {}
    folded: dict[str, set] = {}  # the distinct normalised names, to skip counting when all are known
    for col in spec.columns:
        name, header = col.name, mapping.get(col.name)
        if header is None:
            exprs.append(pl.lit(None, col.dtype).alias(name))
            continue
        source = c(header)
        if name in typed:
            if name in _NUMBER_COLUMNS:
                expr = source.cast(pl.Float64)
            else:
                expr = dialects.typed_date_expr(source, typed[name], tz)
                report.date_format[header] = "typed"
        elif name in _DATETIME_COLUMNS or name in _DATE_COLUMNS:
            plan = dialects.plan_dates(frame[header], header, tz, excel=raw.excel)
            plans[name] = plan
            report.date_format[header] = ", ".join(plan.labels) or "none readable"
            report.notes.extend(plan.notes)
            expr = dialects.date_expr(source, plan, tz)
        elif name in _NUMBER_COLUMNS:
            if name in plain:
                mark, decided = ".", bool(stats[f"{name}:point"])
                value = source.cast(pl.Float64, strict=False)
                expr = pl.when(value.is_finite()).then(value)
            else:
                mark, decided = dialects.decimal_mark(stats[f"{name}:comma"], stats[f"{name}:point"], default_mark)
                expr = dialects.decimal_expr(dialects.number_text(source), mark)
            report.decimal[header] = mark
            if mark == "," and decided:
                report.notes.append(Message("load.decimal_comma", f"decimal comma in `{header}`", header=header))
            elif not decided and stats[f"{name}:ambiguous"]:
                report.notes.append(Message(
                    "load.decimal_ambiguous_comma" if mark == "," else "load.decimal_ambiguous_point",
                    f"the decimal mark in `{header}` cannot be told from its values (like 1.250): read with a "
                    + ("decimal comma, as in `;`-delimited files" if mark == "," else "decimal point"),
                    header=header))
        elif name in _NORMALISE:
            distinct = pl.Series(stats[f"{name}:distinct"], dtype=pl.String)
            expr = dialects.fold_expr(source, distinct, _NORMALISE[name])
            folded[name] = set(pl.select(_NORMALISE[name](dialects.clean_text(pl.lit(distinct)))).to_series())
        else:
            expr = text(header)
        exprs.append(expr.alias(name))
        if not col.required and name in _DATETIME_COLUMNS | _DATE_COLUMNS | _NUMBER_COLUMNS:
            exprs.append(dialects.clean_text(source).is_not_null().alias(f"{name}:present"))
    if spec.keeps_extra_columns:
        exprs += [text(h).cast(pl.String).alias(h) for h in extras]
    df = frame.select(exprs)

    for name, plan in plans.items():
        parsed = dialects.reparse_dates(frame[mapping[name]], df[name], plan, tz)
        df = df.with_columns(parsed.alias(name))
    for name in _DATE_COLUMNS & set(df.columns):
        df = df.with_columns(c(name).dt.date())
    if table == "surveys":
        filled = int(df["survey_type"].null_count())
        df = df.with_columns(c("survey_type").fill_null("nps"))
        if filled and "survey_type" in mapping:
            report.notes.append(Message("load.survey_type_filled", f"{filled:,} empty survey type(s) read as nps",
                                        n=filled))
        n_unknown = int(df["channel"].null_count())
        df = df.with_columns(c("channel").fill_null("unknown"))
        if n_unknown and "channel" in mapping:
            report.notes.append(Message("load.no_channel", f"{n_unknown:,} response(s) without a channel: channel "
                                        "`unknown`", n=n_unknown))
    if table == "orders":
        df = df.with_columns(c("status").fill_null("completed"))

    reason = _reasons(df, table)
    used = reason.is_null()
    _notes_on_values(df.filter(used) if reason.null_count() < df.height else df, table, mapping, report, folded)
    # Optional columns: a value that does not parse is left empty, the row is kept, and the report counts it.
    for name in [n for n in spec.optional if f"{n}:present" in df.columns]:
        bad = int((df[f"{name}:present"] & df[name].is_null() & used).sum())
        if bad:
            report.emptied[name] = bad
            report.notes.append(Message("load.emptied", f"{name}: {bad:,} value(s) unparseable, left empty",
                                        name=name, n=bad))
    columns = [*spec.dtypes, *(extras if spec.keeps_extra_columns else [])]
    if df.columns != columns:
        df = df.select(columns)
    wrong = {k: v for k, v in spec.dtypes.items() if df.schema[k] != v}
    return (df.cast(wrong, strict=False) if wrong else df), reason  # type: ignore[arg-type]


def _reasons(df: pl.DataFrame, table: str) -> pl.Series:
    """One reason per row, the first that applies, in the order below (DATA.md "Bad input")."""
    c = pl.col
    checks: list[tuple[pl.Expr, str]] = []
    if table == "interactions":
        checks = [(c("customer_id").is_null(), "missing_customer_id"),
                  (c("timestamp").is_null(), "unparseable_date"),
                  (c("channel").is_null(), "missing_channel"),
                  (c("event_type").is_null(), "missing_event_type")]
    elif table == "orders":
        checks = [(c("order_id").is_null(), "missing_order_id"),
                  (c("customer_id").is_null(), "missing_customer_id"),
                  (c("timestamp").is_null(), "unparseable_date"),
                  (c("channel").is_null(), "missing_channel"),
                  (c("revenue").is_null(), "non_numeric_revenue"),
                  (c("revenue") < 0, "negative_revenue")]
    elif table == "surveys":
        score = c("score")
        checks = [(c("timestamp").is_null(), "unparseable_date"),
                  (score.is_null() | (score != score.round()), "non_numeric_score")]
        for kind, (lo, hi) in SCORE_RANGE.items():
            checks.append(((c("survey_type") == kind) & ((score < lo) | (score > hi)), "score_out_of_range"))
    elif table == "spend":
        checks = [(c("date").is_null(), "unparseable_date"),
                  (c("channel").is_null(), "missing_channel"),
                  (c("spend").is_null(), "non_numeric_spend")]
    elif table == "customers":
        checks = [(c("customer_id").is_null(), "missing_customer_id")]
    conds = [cond.fill_null(False) for cond, _ in checks]
    if not df.select(pl.any_horizontal(conds).any()).item():
        return dialects.nulls(df.height, pl.String, "reason")  # the common case: skip building strings
    expr: Any = pl.lit(None, pl.String)
    for cond, (_, reason) in zip(reversed(conds), reversed(checks), strict=True):
        expr = pl.when(cond).then(pl.lit(reason)).otherwise(expr)
    return df.select(expr.alias("reason")).to_series()


def _notes_on_values(used: pl.DataFrame, table: str, mapping: Mapping[str, str], report: LoadReport,
                     folded: Mapping[str, set]) -> None:
    if used.height == 0:
        return

    def _others(column: str, known: Iterable[str]) -> tuple[int, str]:
        if column in folded and folded[column] - {None} <= set(known):
            return 0, ""  # every distinct value is known: no need to count
        return _count_others(used[column], known)

    if "channel" in mapping:
        n, text = _others("channel", [*CHANNELS, "unknown"])
        if n:
            report.notes.append(Message("load.other_channels", f"{n:,} row(s) with channels outside the usual six "
                                        f"kept as they are: {text}", n=n, values=text))
    if table == "interactions":
        n, text = _others("event_type", EVENT_TYPES)
        if n:
            report.notes.append(Message("load.other_events", f"{n:,} row(s) with other event types kept (they "
                                        f"count as awareness): {text}", n=n, values=text))
    if table == "orders" and "status" in mapping:
        n, text = _others("status", [*ORDER_STATUSES, "completed"])
        if n:
            report.notes.append(Message("load.other_statuses", f"{n:,} unknown status values kept: {text}", n=n,
                                        values=text))
    if table == "surveys":
        n, text = _others("survey_type", [*SCORE_RANGE, "nps"])
        if n:
            report.notes.append(Message("load.other_surveys", f"{n:,} response(s) of other survey types kept "
                                        f"(left out of NPS/CSAT): {text}", n=n, values=text))

