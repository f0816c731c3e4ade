"""How an export file is written: container, encoding, delimiter, and how dates and numbers are spelled."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from omni_metrics.i18n import Message
from omni_metrics.schema import MISSING_MARKERS

DELIMITERS = (",", ";", "\t", "|")
_CHUNK = 1 << 24  # 16 MB: decode in slices so a 1 GB file never exists twice as a Python str


class DialectError(ValueError):
    """A whole-file problem; the loader adds the file name and turns it into a LoadError."""

    @property
    def message(self) -> str:
        """The problem as raised: a Message (translatable) when the reader wrote one."""
        return self.args[0] if self.args else str(self)


@dataclass
class RawTable:
    """The file's cells before any interpretation, plus what was decided to read them."""

    frame: pl.DataFrame  # every column String (xlsx/parquet may bring typed columns)
    encoding: str | None = None
    delimiter: str | None = None
    excel: bool = False  # numbers in date columns are Excel serial days
    notes: list[str] = field(default_factory=list)


# --- containers -----------------------------------------------------------------------------------------

def _head(source: bytes | Path, size: int) -> bytes:
    if isinstance(source, Path):
        with source.open("rb") as fh:
            return fh.read(size)
    return source[:size]


def _whole(source: bytes | Path) -> bytes:
    return source.read_bytes() if isinstance(source, Path) else source


def read_raw(source: bytes | Path, name: str, max_bytes: int) -> RawTable:
    """Open any supported container (decided from the bytes, the name is only a hint) down to a raw table.

    A path is handed to polars as is when it holds plain UTF-8 text, so a large CSV is read without
    a copy in Python."""
    head = _head(source, 8)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(_whole(source))) as fh:
                inner = fh.read(max_bytes + 1)
        except (OSError, EOFError) as exc:
            raise DialectError(Message("load.gzip_damaged", f"the gzip file is damaged ({exc}); expected a gzip-"
                                               "compressed CSV", detail=str(exc))) from None
        if len(inner) > max_bytes:
            raise DialectError(Message("load.gzip_too_large", f"uncompressed it is larger than the limit of "
                                               f"{max_bytes:,} bytes", limit=max_bytes))
        raw = read_raw(inner, name.removesuffix(".gz"), max_bytes)
        raw.notes.insert(0, Message("load.gzip", "gzip-compressed"))
        return raw
    if head[:4] == b"PK\x03\x04":
        return _read_zip(_whole(source), name, max_bytes)
    if head[:4] == b"PAR1":
        return _read_parquet(_whole(source))
    return read_text(source)


def _read_zip(data: bytes, name: str, max_bytes: int) -> RawTable:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DialectError(Message("load.zip_damaged", f"the zip archive is damaged ({exc}); expected a zip "
                                           "holding one CSV", detail=str(exc))) from None
    if "xl/workbook.xml" in names:
        return _read_xlsx(data)
    members = [i for i in archive.infolist()
               if not i.is_dir() and not i.filename.startswith(("__MACOSX/", ".")) and "/." not in i.filename]
    if len(members) != 1:
        listed = ", ".join(i.filename for i in members) or "nothing"
        raise DialectError(Message("load.zip_members", f"the zip archive holds {listed}; expected exactly one "
                                           "CSV file inside", listed=listed))
    member = members[0]
    if member.file_size > max_bytes:
        raise DialectError(Message("load.member_too_large", f"{member.filename} is larger than the limit of "
                                           f"{max_bytes:,} bytes", member=member.filename, limit=max_bytes))
    try:
        with archive.open(member) as fh:
            inner = fh.read(max_bytes + 1)
    except Exception as exc:  # zipfile raises many types for damaged or encrypted members
        raise DialectError(Message("load.member_unreadable", f"{member.filename} in the zip archive cannot be "
                                           f"read ({exc})", member=member.filename, detail=str(exc))) from None
    if inner[:4] in (b"PK\x03\x04", b"PAR1") or inner[:2] == b"\x1f\x8b":
        raise DialectError(Message("load.member_not_csv", f"{member.filename} in the zip archive is not a CSV; "
                                           "expected one CSV file inside", member=member.filename))
    raw = read_text(inner)
    raw.notes.insert(0, Message("load.from_zip", f"read {member.filename} from the zip archive",
                                member=member.filename))
    return raw


def _read_xlsx(data: bytes) -> RawTable:
    try:
        # Every cell as text: ids keep their digits, and date cells come as ISO text (the date parser
        # reads them); numbers in a date column are Excel serial days, which `excel=True` lets it read.
        frame = pl.read_excel(io.BytesIO(data), sheet_id=1, infer_schema_length=0, raise_if_empty=False)
    except Exception as exc:
        raise DialectError(Message("load.xlsx_unreadable", f"the Excel workbook cannot be read ({exc}); expected "
                                           "an .xlsx file", detail=str(exc))) from None
    frame = frame.select(pl.all().cast(pl.String))
    return RawTable(frame, encoding="xlsx", excel=True, notes=[Message("load.xlsx_first_sheet",
                                                                     "first sheet of the Excel workbook")])


def _read_parquet(data: bytes) -> RawTable:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:
        raise DialectError(Message("load.parquet_unreadable", f"the Parquet file cannot be read ({exc})",
                                           detail=str(exc))) from None
    return RawTable(frame, encoding="parquet")


# --- text -----------------------------------------------------------------------------------------------

# Bytes where Windows-1254 (Turkish) and Windows-1252 (Western) disagree: ğ Ğ ı İ ş Ş in 1254 are
# ð Ð ý Ý þ Þ (Icelandic/Faroese letters) in 1252. Every other byte both define reads the same.
_TR_BYTES = b"\xd0\xdd\xde\xf0\xfd\xfe"
_TR_BYTE = re.compile(rb"[\xd0\xdd\xde\xf0\xfd\xfe]")
_TURKISH_WORD = re.compile(r"[A-Za-zÇçĞğİıÖöŞşÜüÂâÎîÛû]+")


# Latin-1 letters that Turkish does not use (á é í ó ú æ ø å ä ß ñ…): both code pages hold them at the
# same bytes, so they are evidence of a Western text whichever reading is chosen.
_WESTERN_LETTER = re.compile(rb"[\xc0\xc1\xc3-\xc6\xc8-\xcd\xcf\xd1-\xd5\xd8-\xda\xdf\xe0\xe1\xe3-\xe6"
                             rb"\xe8-\xed\xef\xf1-\xf5\xf8-\xfa\xff]")
_WORD = re.compile(rb"[A-Za-z\x80-\xff]+")


def _turkish_or_western(data: bytes) -> tuple[str, str]:
    """Choose Windows-1254 or Windows-1252 for bytes that are not UTF-8, and say why.

    The rule: look at every word holding one of the six bytes on which the two disagree. Read as
    Windows-1254, a Turkish word is made only of Turkish-alphabet letters (`Mağaza`, `İade`, `Müşteri`);
    read as Windows-1252 the same bytes are Icelandic letters (`Maðaza`), which come with other letters
    Turkish never uses (á, é, í, ó, æ…: `Þórshöfn`, `Reykjavík`). So: Turkish words (with one of the six
    bytes, Turkish alphabet only in 1254) against Western words (with a letter Turkish does not use),
    the Western ones weighing double. More Turkish → Windows-1254. No such byte at all → both read the
    file identically; it is reported as Windows-1252 (German/French text stays 1252).
    """
    sample = data[:4_000_000]
    turkish = western = 0
    for match in _WORD.finditer(sample):
        word = match.group()
        if _WESTERN_LETTER.search(word):
            western += 1
        elif _TR_BYTE.search(word) and _TURKISH_WORD.fullmatch(word.decode("cp1254", errors="replace")):
            turkish += 1
    if turkish > 2 * western:
        return "windows-1254", Message("load.windows_1254", f"read as Windows-1254 (Turkish): {turkish:,} words "
                                       "with ğ/ı/İ/ş", n=turkish)
    if turkish or _TR_BYTE.search(sample):
        return "windows-1252", Message("load.windows_1252", "read as Windows-1252 (Western European)")
    return "windows-1252", Message("load.windows_1252_same", "read as Windows-1252 (Western European; "
                                   "Windows-1254 would read it the same)")


def _valid_utf8(data: bytes) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(view), _CHUNK):
            decoder.decode(view[start:start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _recode(data: bytes, codec: str) -> bytes:
    """Decode with `codec` and encode as UTF-8, in slices (polars reads UTF-8 bytes)."""
    decoder = codecs.getincrementaldecoder(codec)()
    view = memoryview(data)
    parts = [decoder.decode(view[start:start + _CHUNK]).encode("utf-8") for start in range(0, len(view), _CHUNK)]
    parts.append(decoder.decode(b"", final=True).encode("utf-8"))
    return b"".join(parts)


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text without a BOM shows as a NUL in every other byte (for Latin text)."""
    if len(head) < 8:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.8 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.8 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def decode(data: bytes) -> tuple[bytes, str, str | None]:
    """(UTF-8 bytes without BOM, encoding used, a note when the choice needs explaining)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:], "utf-8-sig", None
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            try:
                return _recode(data[2:], codec), codec, None
            except UnicodeDecodeError:
                raise DialectError(Message("load.bad_bom", f"it starts with a {codec.upper()} byte-order mark "
                                           f"but is not valid {codec.upper()} text", codec=codec.upper())) from None
    head = data[:65536]
    if b"\x00" in head:
        codec = _utf16_without_bom(head)
        if codec is None:
            raise DialectError(BINARY)
        try:
            return _recode(data, codec), codec, Message("load.no_bom", f"read as {codec.upper()} (no byte-order "
                                                        "mark)", codec=codec.upper())
        except UnicodeDecodeError:
            raise DialectError(Message("load.binary_csv", "it is a binary file, not text; expected a CSV")) from None
    if _valid_utf8(data):
        return data, "utf-8", None
    codec, note = _turkish_or_western(data)
    try:
        return _recode(data, codec), codec, note
    except UnicodeDecodeError:
        # A byte the Windows code page leaves undefined: the ISO variant defines every byte.
        iso = "iso-8859-9" if codec == "windows-1254" else "iso-8859-1"
        return _recode(data, iso), iso, Message("load.iso_fallback", f"read as {iso.upper()}: it holds bytes "
                                                f"{codec} does not define", codec=iso.upper(), other=codec)


def _looks_binary(text: str) -> bool:
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return controls > max(2, len(text) // 100)


def sniff_delimiter(text: str) -> str | None:
    """The delimiter among `,` `;` tab `|` that splits the header and most lines into the same number of
    fields (quotes respected); None when the header holds none of them (a one-column file)."""
    lines = text.splitlines()[:200]
    if not lines:
        return None
    best, best_score = None, None
    for priority, delim in enumerate(DELIMITERS):
        try:
            rows = list(csv.reader(lines, delimiter=delim, quotechar='"'))
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        data = [r for r in rows[1:] if r]
        agree = sum(len(r) == width for r in data) / len(data) if data else 1.0
        score = (agree, width, -priority)
        if best_score is None or score > best_score:
            best, best_score = delim, score
    return best


def _utf8_prefix(head: bytes) -> bool:
    """The head is UTF-8, allowing a character cut at its end."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return False
    return True


RAGGED_NOTE = Message("load.ragged", "some rows have more fields than the header; their extra fields were cut "
                      "off — check the delimiter and the quoting of text that contains it")
BINARY = Message("load.binary", "it is a binary file, not text; expected a CSV (or .csv.gz, .zip, .xlsx, .parquet)")
EMPTY = Message("load.empty", "it is empty; expected a header row with column names")


def _csv(source: bytes | Path, delimiter: str, skip: int, notes: list[str] | None = None) -> pl.DataFrame:
    def read(truncate: bool) -> pl.DataFrame:
        return pl.read_csv(
            source, separator=delimiter, has_header=True, infer_schema=False, quote_char='"', skip_lines=skip,
            truncate_ragged_lines=truncate, raise_if_empty=False, empty_string_is_null=True,
        )

    try:
        return read(truncate=False)
    except pl.exceptions.ComputeError as exc:
        if "more fields" not in str(exc):
            raise
    # Nothing is cut silently: the rows are kept, and the load report says that fields were cut.
    if notes is not None and RAGGED_NOTE not in notes:
        notes.append(RAGGED_NOTE)
    return read(truncate=True)


def read_head(source: bytes | Path) -> pl.DataFrame | None:
    """The header of a CSV as an empty frame, from its first 256 KB; None for a container format."""
    head = _head(source, 262144)
    if head[:2] == b"\x1f\x8b" or head[:4] in (b"PK\x03\x04", b"PAR1"):
        return None
    if len(head) == 262144:
        head = head[:head.rfind(b"\n") + 1] or head
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and len(head) % 2:
            head += b"\n"
    return read_text(head).frame.head(0)


def read_text(source: bytes | Path) -> RawTable:
    """CSV in any supported encoding and delimiter → every column as String.

    UTF-8 (the common case) goes straight to polars, which checks every byte as it reads: should a
    bad byte turn up after the head, the whole file is decoded as a Windows code page instead."""
    head = _head(source, 262144)
    if not head.strip():
        raise DialectError(EMPTY)
    data: bytes | Path
    notes: list[str] = []
    plain = not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and b"\x00" not in head
    if plain and _utf8_prefix(head):
        data, encoding = source, ("utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8")
        text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    else:
        data, encoding, note = decode(_whole(source))
        notes += [note] if note else []
        text = data[:262144].decode("utf-8", errors="ignore")
    if len(head) == 262144:
        text = text[:text.rfind("\n") + 1] or text
    if _looks_binary(text[:65536]):
        raise DialectError(BINARY)
    if not text.strip():
        raise DialectError(EMPTY)
    # Blank lines before the header (spreadsheets sometimes write them) are skipped.
    lines = text.splitlines()
    skip = next(i for i, line in enumerate(lines) if line.strip())
    delimiter = sniff_delimiter("\n".join(lines[skip:])) or ","
    try:
        try:
            frame = _csv(data, delimiter, skip, notes)
        except pl.exceptions.ComputeError as exc:
            if "utf-8" not in str(exc) or data is not source:
                raise
            if encoding == "utf-8-sig":
                raise DialectError(Message("load.bad_utf8_bom", "it starts with a UTF-8 byte-order mark but holds "
                                           "bytes that are not UTF-8; expected the whole file in one encoding")) from None
            data, encoding, note = decode(_whole(source))  # not UTF-8 after all
            notes += [note] if note else []
            frame = _csv(data, delimiter, skip, notes)
    except DialectError:
        raise
    except Exception as exc:
        raise DialectError(Message("load.not_csv", f"it cannot be read as CSV ({exc})", detail=str(exc))) from None
    return RawTable(frame, encoding=encoding, delimiter=delimiter, notes=notes)


# --- values ---------------------------------------------------------------------------------------------
# Each kind of value is read in two steps: a decision from the column's values (a sample, or one
# vectorised pass), then one polars expression, so the loader can read all columns in a single select.

def clean_text(expr: pl.Expr) -> pl.Expr:
    """Trimmed; empty and the missing markers (`N/A`, `null`, `-`…) become null."""
    return expr.cast(pl.String).str.strip_chars().replace(list(MISSING_MARKERS), None)


def needs_cleaning(expr: pl.Expr, header: str) -> list[pl.Expr]:
    """[any value padded with spaces, any value a missing marker]: when neither, the column is used as is."""
    return [expr.str.contains(r"^\s|\s$").any().alias(f"{header}:padded"),
            expr.is_in(MISSING_MARKERS).any().alias(f"{header}:marker")]


def nulls(n: int, dtype: pl.DataType, name: str = "") -> pl.Series:
    return pl.repeat(None, n, dtype=dtype, eager=True).alias(name)


def fold_expr(expr: pl.Expr, distinct: pl.Series, normalise) -> pl.Expr:
    """Clean and normalise the distinct values only (a name column holds few), then map the column."""
    folded = pl.select(normalise(clean_text(pl.lit(distinct)))).to_series()
    if folded.equals(distinct, check_names=False):
        return expr  # already normalised (a canonical export): keep the column as it is, no copy
    return expr.replace_strict(distinct, folded, default=None, return_dtype=pl.String)


# --- numbers --------------------------------------------------------------------------------------------

_CURRENCY = r"(?i)[\s\u00a0\u202f'₺$€£]|YTL|TL|TRY|EUR|USD"
# Per value: which mark is the decimal one (see decimal_mark).
_COMMA_DECIMAL = r"\.\d*,\d*$|^[-+]?\d*,(\d{0,2}|\d{4,})$|^[-+]?\d{1,3}(\.\d{3}){2,}$"
POINT_DECIMAL = r",\d*\.\d*$|^[-+]?\d*\.(\d{0,2}|\d{4,})$|^[-+]?\d{1,3}(,\d{3}){2,}$"
AMBIGUOUS_MARK = r"^[-+]?\d{1,3}[.,]\d{3}$"


def number_text(expr: pl.Expr) -> pl.Expr:
    """`₺1.234,56`, `1.234,56 TL`, `$1,234.56` → `1.234,56` / `1,234.56` (spaces as thousands go too)."""
    return clean_text(expr).str.replace_all(_CURRENCY, "")


def decimal_evidence(text: pl.Expr) -> list[pl.Expr]:
    """[how many values only a decimal comma explains, how many only a decimal point explains]."""
    return [text.str.contains(_COMMA_DECIMAL).sum(), text.str.contains(POINT_DECIMAL).sum()]


def decimal_mark(comma: int, point: int, file_default: str) -> tuple[str, bool]:
    """The column's decimal mark, and whether its values decided it.

    A value decides when its last mark cannot be a thousands separator: `1.234,56`, `12,5` (comma) or
    `1,234.56`, `12.5` (point); `1.250` alone says nothing. The majority decides; a column with no
    deciding value follows the file (`;`-delimited → comma, else point).
    """
    if comma == point:
        return file_default, False
    return ("," if comma > point else "."), True


def decimal_expr(text: pl.Expr, mark: str) -> pl.Expr:
    if mark == ",":
        text = text.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    else:
        text = text.str.replace_all(",", "", literal=True)
    value = text.cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


# --- dates ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DateFormat:
    chrono: str
    label: str
    aware: bool = False  # holds an offset or `Z`
    order: str = "ymd"  # "dmy" / "mdy" for the slash and dot families
    utc: bool = False  # ends in a literal `Z`: read naive (polars' fast path), then moved from UTC


def _dt_formats() -> tuple[DateFormat, ...]:
    out: list[DateFormat] = []
    # `%S` before `%S%.f`: polars parses a format without fractions several times faster.
    times = (("%H:%M:%S", "HH:MM:SS"), ("%H:%M:%S%.f", "HH:MM:SS.f"), ("%H:%M", "HH:MM"))
    for sep in ("T", " "):
        for time, time_label in times:
            out.append(DateFormat(f"%Y-%m-%d{sep}{time}", f"YYYY-MM-DD{sep}{time_label}"))
            out.append(DateFormat(f"%Y-%m-%d{sep}{time}Z", f"YYYY-MM-DD{sep}{time_label}Z", utc=True))
            out.append(DateFormat(f"%Y-%m-%d{sep}{time}%#z", f"YYYY-MM-DD{sep}{time_label}±HH:MM", True))
    out.append(DateFormat("%Y-%m-%d", "YYYY-MM-DD"))
    for order, fields, labels in (("dmy", "%d{0}%m{0}%Y", "DD{0}MM{0}YYYY"), ("mdy", "%m{0}%d{0}%Y", "MM{0}DD{0}YYYY")):
        for sep in (".", "/") if order == "dmy" else ("/",):
            for time, time_label in ((" %H:%M:%S", " HH:MM:SS"), (" %H:%M", " HH:MM"), ("", "")):
                out.append(DateFormat(fields.format(sep) + time, labels.format(sep) + time_label, order=order))
    return tuple(out)


DATE_FORMATS = _dt_formats()
_NUMBER = r"^[-+]?\d+(\.\d+)?$"
_EXCEL_EPOCH_US = -2_209_161_600_000_000  # 1899-12-30, day 0 of Excel's 1900 date system


@dataclass
class DatePlan:
    formats: list[DateFormat]
    numeric: bool  # epoch numbers (or Excel serial days) are read too
    excel: bool
    labels: list[str]
    notes: list[str]


def _with_format(expr: pl.Expr, fmt: DateFormat, tz: str) -> pl.Expr:
    # polars caches each distinct text's parse: worth it for dates (few distinct days), a cost for timestamps
    # with a time of day, nearly all distinct (10 M event times: 0.18 s instead of 0.32 s without the cache)
    cache = "%H" not in fmt.chrono
    if fmt.aware:
        parsed = expr.str.strptime(pl.Datetime("us", "UTC"), fmt.chrono, strict=False, cache=cache)
        return parsed.dt.convert_time_zone(tz).dt.replace_time_zone(None)
    parsed = expr.str.strptime(pl.Datetime("us"), fmt.chrono, strict=False, cache=cache)
    if fmt.utc and tz != "UTC":
        return parsed.dt.replace_time_zone("UTC").dt.convert_time_zone(tz).dt.replace_time_zone(None)
    return parsed


def _numeric_dates(expr: pl.Expr, tz: str, excel: bool) -> pl.Expr:
    """Epoch seconds / milliseconds / microseconds by magnitude; Excel serial days from xlsx."""
    as_int = expr.cast(pl.Int64, strict=False)
    as_float = expr.cast(pl.Float64, strict=False)
    size = as_float.abs()
    mult = pl.when(size < 1e11).then(1_000_000).when(size < 1e14).then(1_000).otherwise(1)
    epoch_us = pl.when(as_int.is_not_null()).then(as_int * mult).otherwise(
        (as_float * mult).round().cast(pl.Int64, strict=False))
    epoch = pl.from_epoch(pl.when(size >= 1e8).then(epoch_us), "us")  # smaller numbers are no plausible epoch
    if tz != "UTC":
        epoch = epoch.dt.replace_time_zone("UTC").dt.convert_time_zone(tz).dt.replace_time_zone(None)
    if not excel:
        return epoch
    # Excel stores times to the millisecond; rounding keeps 10:31 from coming back as 10:30:59.999999.
    serial = (as_float * 86_400_000).round().cast(pl.Int64, strict=False) * 1000 + _EXCEL_EPOCH_US
    return pl.coalesce(epoch, pl.from_epoch(pl.when((as_float > 0) & (size < 1e6)).then(serial), "us"))


def _numeric_label(sample: pl.Series, excel: bool) -> str:
    size = sample.cast(pl.Float64, strict=False).abs().drop_nulls()
    labels = []
    if (size >= 1e8).any():
        unit = size.filter(size >= 1e8)
        units = pl.select(pl.when(pl.lit(unit) >= 1e14).then(pl.lit("microseconds"))
                          .when(pl.lit(unit) >= 1e11).then(pl.lit("milliseconds"))
                          .otherwise(pl.lit("seconds"))).to_series()
        labels.append(f"Unix epoch {units.mode().sort()[0]}")
    if excel and ((size > 0) & (size < 1e6)).any():
        labels.append("Excel serial days")
    return " / ".join(labels)


def plan_dates(values: pl.Series, header: str, tz: str, excel: bool = False) -> DatePlan:
    """Decide how to read a String column of dates from its values (DATA.md "Dates")."""
    present = values.drop_nulls()
    notes: list[str] = []
    step = max(1, present.len() // 2000)
    sample = pl.concat([present.head(500), present.gather_every(step)]).str.strip_chars().unique()

    # The day/month order of the slash family is decided on the whole column (DATA.md rule).
    slash_order = None
    if sample.str.contains(r"^\d{1,2}/\d{1,2}/\d{4}").any():
        fields = values.str.strip_chars().str.extract_groups(r"^(\d{1,2})/(\d{1,2})/\d{4}")
        first = fields.struct.field("1").cast(pl.Int32, strict=False)
        second = fields.struct.field("2").cast(pl.Int32, strict=False)
        if (first > 12).any():
            slash_order = "dmy"
            notes.append(_day_first(header, values.filter(first > 12)[0].strip()))
        elif (second > 12).any():
            slash_order = "mdy"
            example = values.filter(second > 12)[0].strip()
            notes.append(Message("load.dates_month_first", f"dates in `{header}` read as month-first: {example} "
                                 "cannot be day-first", header=header, example=example))
        else:
            slash_order = "dmy"
            notes.append(Message("load.dates_ambiguous", f"dates in `{header}` are ambiguous (no day above 12): "
                                 "read as day-first (DD/MM/YYYY)", header=header))
    if sample.str.contains(r"^\d{1,2}\.\d{1,2}\.\d{4}").any():
        # DD.MM.YYYY is always day-first (DATA.md); the note shows a value that proves it when there is one.
        first = values.str.strip_chars().str.extract(r"^(\d{1,2})\.\d{1,2}\.\d{4}", 1).cast(pl.Int32, strict=False)
        if (first > 12).any():
            notes.append(_day_first(header, values.filter(first > 12)[0].strip()))
        else:
            notes.append(Message("load.dates_dotted", f"dates in `{header}` read as day-first (DD.MM.YYYY)",
                                 header=header))

    candidates = [f for f in DATE_FORMATS if not ("/" in f.chrono and f.order != slash_order)]
    frame = pl.DataFrame({"v": sample})
    hits = frame.select(_with_format(pl.col("v"), f, tz).is_not_null().alias(str(i))
                        for i, f in enumerate(candidates))
    # Greedy cover of the sample: every format chosen reads values no earlier one did, so a clean
    # column costs one strptime pass (values the sample missed get a second chance in reparse_dates).
    chosen: list[DateFormat] = []
    covered = pl.repeat(False, frame.height, eager=True)
    while True:
        gains = [int((hits[str(i)] & ~covered).sum()) for i in range(len(candidates))]
        best = max(range(len(candidates)), key=lambda i: (gains[i], -i)) if candidates else 0
        if not candidates or gains[best] == 0:
            break
        chosen.append(candidates[best])
        covered = covered | hits[str(best)]
    numeric = bool(sample.str.contains(_NUMBER).any())
    labels = [f.label for f in chosen]
    if numeric:
        label = _numeric_label(sample.filter(sample.str.contains(_NUMBER)), excel)
        if label:
            labels.append(label)
            if "epoch" in label:
                notes.append(Message("load.numeric_dates_tz", f"`{header}` holds {label}, converted to {tz}",
                                     header=header, label=_label_message(label), tz=tz))
            else:
                notes.append(Message("load.numeric_dates", f"`{header}` holds {label}", header=header,
                                     label=_label_message(label)))
    if any(f.aware or f.utc for f in chosen):
        notes.append(Message("load.offsets", f"times with an offset in `{header}` converted to {tz}",
                             header=header, tz=tz))
    return DatePlan(chosen, numeric, excel, labels, notes)


def _label_message(label: str) -> list[Message]:
    """`Unix epoch seconds / Excel serial days` as messages the UI can translate."""
    return [Message(f"load.format.{part}", part) for part in label.split(" / ")]


def _day_first(header: str, example: str) -> Message:
    return Message("load.dates_day_first", f"dates in `{header}` read as day-first: {example} cannot be month-first",
                   header=header, example=example)


def date_expr(expr: pl.Expr, plan: DatePlan, tz: str) -> pl.Expr:
    parts = [_with_format(expr, f, tz) for f in plan.formats]
    if plan.numeric:
        parts.append(_numeric_dates(expr, tz, plan.excel))
    if not parts:
        return pl.lit(None, pl.Datetime("us"))
    return pl.coalesce(parts) if len(parts) > 1 else parts[0]


def reparse_dates(values: pl.Series, parsed: pl.Series, plan: DatePlan, tz: str) -> pl.Series:
    """Second chance for the values the plan did not read: trimmed, and with every format and epoch."""
    failed = parsed.is_null() & values.is_not_null()
    if not failed.any():
        return parsed
    idx = failed.arg_true()
    rest = values.gather(idx)
    every = DatePlan([f for f in DATE_FORMATS if "/" not in f.chrono or f.order == _slash_order(plan)],
                     True, plan.excel, [], [])
    again = pl.DataFrame({"v": rest}).select(date_expr(clean_text(pl.col("v")), every, tz)).to_series()
    got = again.is_not_null()
    if not got.any():
        return parsed
    return parsed.scatter(idx.filter(got), again.filter(got))


def _slash_order(plan: DatePlan) -> str:
    orders = {f.order for f in plan.formats if "/" in f.chrono}
    return orders.pop() if orders else "dmy"


def typed_date_expr(expr: pl.Expr, dtype: pl.DataType, tz: str) -> pl.Expr:
    """A Date/Datetime column (parquet) as naive datetimes in the dataset time zone."""
    if dtype == pl.Date:
        return expr.cast(pl.Datetime("us"))
    tzinfo = getattr(dtype, "time_zone", None)
    expr = expr.cast(pl.Datetime("us", tzinfo))
    return expr.dt.convert_time_zone(tz).dt.replace_time_zone(None) if tzinfo else expr
