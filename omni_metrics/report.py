"""The whole report of METRICS.md §10 from the canonical tables: one function the CLI and the dashboard share."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time
from threading import Lock
from typing import Any, ClassVar

import numpy as np
import polars as pl

from omni_metrics import engine
from omni_metrics.engine import Later
from omni_metrics.metrics import acquisition, clv_history, cohorts, conversion, journeys, nps, rfm, silence
from omni_metrics.metrics.conversion import div, ratio
from omni_metrics.schema import EVENT_STAGE, STAGE_RANK

PERIODS = ("week", "month", "quarter")
CUSTOMER_COLUMNS = (
    "customer_id", "first_order", "cohort", "acquisition_channel", "orders", "revenue", "frequency", "recency", "T",
    "monetary_value", "p_alive", "expected_purchases", "expected_aov", "predicted_clv", "n_channels", "journey",
    "days_silent", "typical_gap", "silent", "last_touch_channel", "last_touch_event", "churn_risk", "risk_band",
    "r", "f", "m", "rfm_segment",
)


@dataclass(frozen=True)
class Settings:
    """Filters and the settings METRICS.md lets a user change; the defaults are the spec's."""

    as_of: datetime | None = None
    period: str = "month"
    start: date | None = None
    end: date | None = None
    channels: tuple[str, ...] | None = None
    segments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    session_gap_minutes: int = 30
    silence_factor: float = 2.0
    silence_floor_days: int = 30
    horizon_months: int = 12
    discount_rate: float = 0.01
    churn_horizon_days: int = 90
    risk_high: float = 0.6
    risk_medium: float = 0.3
    lookback_days: int = 30
    half_life_days: float = 7.0
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4)
    engine: str = "polars"

    def __hash__(self) -> int:
        return hash(self.key())

    def key(self) -> str:
        return json.dumps(self.to_query(), sort_keys=True)

    # --- URL query parameters: flat str → str, defaults omitted, exact round trip ---------------------------

    def to_query(self) -> dict[str, str]:
        default = Settings()
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            if f.name == "segments":
                out.update({f"seg.{k}": ",".join(v) for k, v in sorted(value.items())})
            elif isinstance(value, tuple):
                out[f.name] = ",".join(map(str, value))
            elif isinstance(value, datetime | date):
                out[f.name] = value.isoformat()
            else:
                out[f.name] = str(value)
        return out

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Settings:
        """Settings from query parameters; a value that does not parse keeps its default, never an error."""
        default = cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = query.get(f.name)
            if raw is None or f.name == "segments":
                continue
            try:
                values[f.name] = _parse(f.name, raw, getattr(default, f.name))
            except (ValueError, TypeError):
                continue
        segments = {k[4:]: tuple(v.split(",")) for k, v in query.items() if k.startswith("seg.") and v}
        settings = cls(**values, segments=segments)
        return settings if settings.period in PERIODS else replace(settings, period="month")

    @classmethod
    def from_cli(cls, args: Any) -> Settings:
        segments: dict[str, list[str]] = {}
        for item in getattr(args, "segments", None) or []:
            name, _, value = item.partition("=")
            segments.setdefault(name.strip(), []).append(value.strip())
        return cls(
            as_of=_as_of(args.as_of) if getattr(args, "as_of", None) else None,
            period=args.period, start=date.fromisoformat(args.start) if args.start else None,
            end=date.fromisoformat(args.end) if args.end else None,
            channels=tuple(args.channels) if args.channels else None,
            segments={k: tuple(v) for k, v in segments.items()}, engine=args.engine,
        )


def _as_of(text: str) -> datetime:
    """A date without a time means the end of that day (rows on that date are in)."""
    if len(text.strip()) <= 10:
        return datetime.combine(date.fromisoformat(text.strip()), time.max)
    return datetime.fromisoformat(text.strip()).replace(tzinfo=None)


def _parse(name: str, raw: str, default: Any) -> Any:
    if name == "as_of":
        return _as_of(raw)
    if name in ("start", "end"):
        return date.fromisoformat(raw)
    if name == "channels":
        return tuple(c for c in raw.split(",") if c) or None
    if name == "position_weights":
        weights = tuple(float(x) for x in raw.split(","))
        if len(weights) != 3:
            raise ValueError(raw)
        return weights
    if isinstance(default, bool):
        return raw == "True"
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError(raw)
        return value
    return raw


@dataclass
class ModelInputs:
    """What the models and attribution read, kept by a report built without them so that `add_models` can
    add them later without preparing the touches and per-customer facts again."""
    prepared: Prepared  # its touches (a filtered view's are made on first use: the descriptive part needs none)
    orders: Any
    surveys: pl.DataFrame | None
    as_of: datetime
    sections: Later  # the per-customer facts with RFM scores and cohorts are made with the report's sections

    @property
    def touches(self) -> Any:
        return self.prepared.touches

    @property
    def facts(self) -> pl.DataFrame:
        return self.sections.get().facts


@dataclass
class Report:
    data: dict[str, Any]
    frames: dict[str, pl.DataFrame]
    settings: Settings
    # Set on a report built with models=False (see add_models); not part of the report itself.
    inputs: ModelInputs | None = field(default=None, repr=False, compare=False)
    table: pl.DataFrame | Later | None = field(default=None, repr=False, compare=False)  # see `customers`

    @property
    def customers(self) -> pl.DataFrame:
        """The per-customer table (made with the report's sections on first read)."""
        return self.table if isinstance(self.table, pl.DataFrame) else self.table.get().customers

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2, ensure_ascii=False, default=str)


class LazyDict(dict):
    """A report's `data` or `frames`: a dict whose `later` keys (listed with None until then, in their place)
    get their values on the first read of each (`later[key]()`, which reads a Later: work shared by several keys
    is done once) or of the whole dict. Every way of reading a value goes through here; reading a key that is
    there already makes nothing."""

    def __init__(self, values: dict[str, Any], later: Mapping[str, Callable[[], Any]]) -> None:
        super().__init__(values)
        self._later, self._lock = dict(later), Lock()

    def _fill(self, keys: list[str]) -> None:
        for key in keys:
            make = self._later.get(key)
            if make is None:
                continue
            # made outside the lock, so that a reader of another key does not wait for this one; makers share
            # their work through Laters, which make it once
            value = make()
            with self._lock:
                if key in self._later:
                    dict.__setitem__(self, key, value)
                    del self._later[key]  # only once made: a maker that failed is tried again on the next read

    def _filled(self) -> LazyDict:
        if self._later:
            self._fill(list(self._later))
        return self

    def __getitem__(self, key: str) -> Any:
        if key in self._later:
            self._fill([key])
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self):
        return dict.__iter__(self._filled())

    def keys(self):
        return dict.keys(self._filled())

    def values(self):
        return dict.values(self._filled())

    def items(self):
        return dict.items(self._filled())

    def copy(self) -> dict[str, Any]:
        return dict(self._filled().items())

    def __or__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        return self.copy() | dict(other)

    def __eq__(self, other: object) -> bool:
        return dict.__eq__(self._filled(), other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return dict.__repr__(self._filled())


# --- helpers ---------------------------------------------------------------------------------------------

def period_index(ts: pl.Expr, period: str) -> pl.Expr:
    """An integer per period, consecutive periods differing by 1 (weeks start on Monday)."""
    return engine.pl_period_index(ts, period)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return _json_safe(frame.to_dicts())


# --- the cut, the filters, the touches -------------------------------------------------------------------

def default_as_of(tables: Mapping[str, pl.DataFrame]) -> datetime | None:
    stamps = [f["timestamp"].max() for t in ("interactions", "orders", "surveys")
              if (f := tables.get(t)) is not None and f.height]
    stamps = [s for s in stamps if s is not None]
    return max(stamps) if stamps else None


@dataclass
class Prepared:
    """The tables after the as_of cut and the filters, and the touches every metric uses (the interactions
    are in the touches)."""

    as_of: datetime
    orders: pl.DataFrame | None  # completed orders up to as_of
    surveys: pl.DataFrame | None
    spend: pl.DataFrame | None
    customers: pl.DataFrame | None
    touch_frame: Any  # the touches, or a Later that filters them on first use (see `touches`)
    after_as_of: dict[str, int]
    notes: list[str] = field(default_factory=list)
    touch_rows: Any = None  # the cut's own: the touches' rows in (customer_code, touch_seq) order (numpy)
    segment: pl.Series | None = None  # the segment filter's customer ids (None: no segment filter)
    root: Prepared | None = None  # the cut whose touches these are rows of (None: this cut itself)
    first_purchase: datetime | None = None  # a cut's earliest purchase among the interactions (None: none)

    @property
    def touches(self) -> Any:
        """The touches. A filtered view's are made on first use: on polars its figures come from the cut's
        SessionIndex and a mask of places, and only the models read the filtered rows themselves."""
        return self.touch_frame.get() if isinstance(self.touch_frame, Later) else self.touch_frame


def resolve_as_of(settings: Settings, latest: datetime | None) -> datetime | None:
    """as_of as given, else the end of the `end` day, else the latest timestamp of the data."""
    if settings.as_of is not None:
        return settings.as_of
    if settings.end is not None:
        return datetime.combine(settings.end, time.max)
    return latest


def segment_ids(customers: pl.DataFrame | None, segments: Mapping[str, tuple[str, ...]],
                notes: list[str]) -> pl.Series | None:
    """The customer ids in the chosen segments (every attribute must match one of its values), or None when no
    segment filter applies. An attribute the customers table lacks keeps nobody, and says so."""
    if not segments:
        return None
    if customers is None:
        notes.append("Upload a customers table to filter by customer attributes: no customer matches the filter.")
        return pl.Series("customer_id", [], pl.String)
    chosen = customers
    for attribute, values in segments.items():
        if attribute not in chosen.columns:
            notes.append(f"The customers table has no column named \"{attribute}\": no customer matches the filter.")
            return pl.Series("customer_id", [], pl.String)
        chosen = chosen.filter(pl.col(attribute).cast(pl.String).is_in(list(values)))
    return chosen["customer_id"].unique()


class Memo:
    """Parts of reports that other settings reuse, for a caller that builds report after report of one dataset
    (the dashboard: a filter change must not redo what it leaves alone). A key names a part and everything it
    depends on — the as_of cut; the per-customer facts of a channel choice; the sessions of a window — so a part
    is only ever reused where it would be computed the same. Keys hold no dataset: one Memo per dataset. Keeps the
    first part of each kind (the view the dataset was opened on, which a reader comes back to) and the `size`
    newest others; safe to share between threads (a part two threads miss at once is computed twice, the
    second result kept)."""

    def __init__(self, size: int = 3) -> None:
        self.size = size
        self._parts: OrderedDict[tuple, Any] = OrderedDict()
        self._first: dict[Any, tuple] = {}  # kind → the key of its first part
        self._lock = Lock()

    def peek(self, key: tuple) -> Any | None:
        with self._lock:
            if key in self._parts:
                self._parts.move_to_end(key)
                return self._parts[key]
        return None

    def newest(self, prefix: tuple) -> Any | None:
        """The newest part whose key starts with `prefix` (None: none)."""
        with self._lock:
            for key in reversed(self._parts):
                if key[:len(prefix)] == prefix:
                    return self._parts[key]
        return None

    def get(self, key: tuple, make: Callable[[], Any]) -> Any:
        found = self.peek(key)
        if found is not None:
            return found
        value = make()
        with self._lock:
            self._parts[key] = value
            first = self._first.setdefault(key[0], key)
            others = [k for k in self._parts if k[0] == key[0] and k != first]
            for old in others[:-self.size]:
                del self._parts[old]
        return value


def prepare(tables: Mapping[str, pl.DataFrame], settings: Settings, memo: Memo | None = None) -> Prepared:
    """The as_of cut (rows after it counted per table), the filters, completed orders, and the touches.

    The touches of every filtered view are rows of the unfiltered touches, in the same tie order: the cut and
    its touches are computed once per as_of (and kept in `memo`), the filters only keep rows. With a memo (the
    dashboard, where the end date moves as_of), a cut at an as_of before the data's latest timestamp is made of
    the rows of the latest cut (_earlier), so that a change of the end date is a view of that cut, not a new
    one; without a memo the tables are cut directly (the same rows, sooner for a single report)."""
    latest = default_as_of(tables)
    as_of = resolve_as_of(settings, latest)
    if as_of is None:
        raise ValueError("There is nothing to report on: upload interactions or orders.")
    filtered = bool(settings.channels or settings.segments)
    if memo is None:
        base = _cut(tables, as_of)
        return _filtered(base, settings) if filtered else base
    if latest is not None and as_of < latest:
        root = memo.get(("cut", latest), lambda: _cut(tables, latest))
        base = memo.get(("earlier", as_of), lambda: _earlier(root, tables, as_of))
    else:
        base = memo.get(("cut", as_of), lambda: _cut(tables, as_of))
    if not filtered:
        return base
    return memo.get(("view", as_of, *_filters(settings)), lambda: _filtered(base, settings))


def _filters(settings: Settings) -> tuple:
    """The channel and segment filters as part of a Memo key."""
    return settings.channels, tuple(sorted(settings.segments.items()))


# the column each table is cut on at as_of
CUT_ON = {"interactions": "timestamp", "orders": "timestamp", "surveys": "timestamp", "spend": "date"}


def _limit(as_of: datetime, column: str) -> datetime | date:
    """The last value of `column` that a cut at as_of keeps: spend is dated, and a row dated on the as_of date
    counts, a later one does not."""
    return as_of if column == "timestamp" else as_of.date()


def _cut(tables: Mapping[str, pl.DataFrame], as_of: datetime) -> Prepared:
    """The tables cut at as_of (rows after it counted per table), completed orders, and the touches."""
    after: dict[str, int] = {}

    def cut(name: str) -> pl.DataFrame | None:
        frame = tables.get(name)
        if frame is None:
            return None
        frame = frame.with_row_index("row_nr")
        column = CUT_ON[name]
        limit = _limit(as_of, column)
        latest, whole = frame[column].max(), frame[column].null_count() == 0
        # as_of is the latest timestamp unless chosen: then nothing is cut, and copying every row is saved
        kept = frame if whole and (latest is None or latest <= limit) else frame.filter(pl.col(column) <= pl.lit(limit))
        after[name] = frame.height - kept.height
        return kept

    interactions, orders, surveys, spend = cut("interactions"), cut("orders"), cut("surveys"), cut("spend")
    after["customers"] = 0
    # DATA.md: orders become purchase touches when the interactions hold no purchase at all — a property of the
    # dataset up to as_of, judged before any filter (a channel filter must not turn orders into touches).
    first_purchase = interactions.select(pl.col("timestamp").filter(pl.col("event_type") == "purchase").min()) \
        .item() if interactions is not None else None
    add_orders = first_purchase is None
    completed = orders.filter(pl.col("status").fill_null("completed") == "completed") if orders is not None else None
    frame = _touch_frame(interactions, completed, add_orders=add_orders)
    # Codes every view's rollups share, computed once here: the channels as one Enum over touches and orders
    # (beside the customers' sort), and the orders' customers in the touches' customer codes.
    coded = engine.beside(lambda: _channels_coded([f for f in (frame, completed) if f is not None]))
    code, seq, touch_rows = engine.pl_customer_seq(frame)
    t = coded()[0].with_columns(code, seq)
    if completed is not None:
        # in (customer, time, order_id) order, kept by every view: their per-customer facts need no sort
        completed = coded()[1].with_columns(engine.order_customer_codes(t, coded()[1])).sort(
            "customer_code", "timestamp", "order_id")
    return Prepared(as_of, completed, surveys, spend, tables.get("customers"), t, after, touch_rows=touch_rows,
                    first_purchase=first_purchase)


def _earlier(cut: Prepared, tables: Mapping[str, pl.DataFrame], as_of: datetime) -> Prepared:
    """The cut at `as_of` made of the rows of a later `cut` of the same tables: its orders, surveys and spend up
    to as_of, and its touches up to as_of (filtered on first use) — each customer's earliest touches, with the
    same customer codes and tie-order numbers. The tables are cut directly instead when the rule that turns
    orders into touches (no purchase among the interactions) judges the two cuts differently."""
    if cut.first_purchase is not None and cut.first_purchase > as_of:
        return _cut(tables, as_of)
    after = {name: frame.height - int((frame[column] <= _limit(as_of, column)).sum())
             for name, column in CUT_ON.items() if (frame := tables.get(name)) is not None} | {"customers": 0}
    until = pl.col("timestamp") <= as_of
    orders, surveys = (f.filter(until) if f is not None else None for f in (cut.orders, cut.surveys))
    spend = cut.spend.filter(pl.col("date") <= _limit(as_of, "date")) if cut.spend is not None else None
    return Prepared(as_of, orders, surveys, spend, cut.customers, Later(lambda: cut.touches.filter(until)), after,
                    root=cut, first_purchase=cut.first_purchase)


def _channels_coded(frames: list[pl.DataFrame]) -> list[pl.DataFrame]:
    """The frames with `channel_code`: their channels as one Enum. Its names come from one row per distinct hash
    (a few rows of millions); a name that shared its hash with another would be missing, and the strict cast
    refuses it: the names are then listed exactly."""
    names = pl.concat([f["channel"].gather(f["channel"].hash(seed=7).arg_unique()) for f in frames])
    try:
        return _channel_coded(frames, names)
    except pl.exceptions.InvalidOperationError:
        return _channel_coded(frames, pl.concat([f["channel"].unique() for f in frames]))


def _channel_coded(frames: list[pl.DataFrame], names: pl.Series) -> list[pl.DataFrame]:
    """The frames with `channel_code`: their channels as one Enum of `names` (strict: a channel not among them
    raises InvalidOperationError)."""
    channels = pl.Enum(names.drop_nulls().unique().sort())
    return [f.with_columns(pl.col("channel").cast(channels).alias("channel_code")) for f in frames]


def _filtered(base: Prepared, settings: Settings) -> Prepared:
    """The cut's rows that the channel and segment filters keep (the touches keep their tie order, and are
    filtered on first use)."""
    orders, surveys, spend = base.orders, base.surveys, base.spend
    keep: list[pl.Expr] = []
    if settings.channels:
        keep.append(pl.col("channel").is_in(list(settings.channels)))
        orders, surveys, spend = (f.filter(keep[-1]) if f is not None else None for f in (orders, surveys, spend))
    notes: list[str] = []
    ids = segment_ids(base.customers, settings.segments, notes)
    if ids is not None:  # spend has no customers: it stays as the channel filter left it
        keep.append(pl.col("customer_id").is_in(ids.implode()))
        orders, surveys = (f.filter(keep[-1]) if f is not None else None for f in (orders, surveys))
    return Prepared(base.as_of, orders, surveys, spend, base.customers, Later(lambda: base.touches.filter(keep)),
                    base.after_as_of, notes, segment=ids, root=base.root or base)


TOUCH_SCHEMA = {"customer_id": pl.String, "timestamp": pl.Datetime("us"), "channel": pl.String,
                "event_type": pl.String, "session_id": pl.String, "campaign": pl.String, "order_id": pl.String,
                "row_nr": pl.UInt32, "source": pl.Int32, "stage_rank": pl.Int8, "customer_code": pl.UInt32,
                "touch_seq": pl.Int64}


def touches(interactions: pl.DataFrame | None, orders: pl.DataFrame | None, *,
            add_orders: bool | None = None) -> pl.DataFrame:
    """Interactions plus purchase touches from orders (DATA.md), with `touch_seq` in METRICS.md's tie order
    (_touches)."""
    return _touches(interactions, orders, add_orders=add_orders)[0]


def _touches(interactions: pl.DataFrame | None, orders: pl.DataFrame | None, *,
             add_orders: bool | None = None) -> tuple[pl.DataFrame, np.ndarray]:
    """(touches, their rows in (customer_code, touch_seq) order): interactions plus purchase touches from
    orders (DATA.md), with `touch_seq` in METRICS.md's tie order: timestamp, stage, channel, event_type,
    order_id (empty first), session_id, then the order in the file (interaction rows before the touches added
    from orders). The eager polars twin of engine.touches."""
    frame = _touch_frame(interactions, orders, add_orders=add_orders)
    # customer_code: the customer ids as UInt32 codes, so the polars rollups group on integers, not strings;
    # the rows stay where they are (engine.pl_customer_seq)
    code, seq, rows = engine.pl_customer_seq(frame)
    return frame.with_columns(code, seq), rows


def _touch_frame(interactions: pl.DataFrame | None, orders: pl.DataFrame | None, *,
                 add_orders: bool | None = None) -> pl.DataFrame:
    """The touches (_touches) before their customer codes and tie order: the interactions, the purchase touches
    from orders when they are added, and each one's stage rank."""
    columns = ["customer_id", "timestamp", "channel", "event_type", "session_id", "campaign", "order_id", "row_nr"]
    parts = []
    if interactions is not None:
        parts.append(interactions.select(columns).with_columns(pl.col("row_nr").cast(pl.UInt32),
                                                                pl.lit(0, pl.Int32).alias("source")))
    if add_orders is None:
        add_orders = interactions is None or not (interactions["event_type"] == "purchase").any()
    if orders is not None and add_orders:
        parts.append(orders.select(
            "customer_id", "timestamp", "channel", pl.lit("purchase").alias("event_type"),
            pl.lit(None, pl.String).alias("session_id"), pl.lit(None, pl.String).alias("campaign"), "order_id",
            pl.col("row_nr").cast(pl.UInt32), pl.lit(1, pl.Int32).alias("source"),
        ))
    if not parts:
        return pl.DataFrame(schema={k: v for k, v in TOUCH_SCHEMA.items()
                                    if k not in ("customer_code", "touch_seq")})
    frame = pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]
    # the stage rank as a sum of equality tests (one per event above awareness): comparing text to a constant
    # is a fraction of the cost of looking each row up in a map
    stage = pl.sum_horizontal([(pl.col("event_type") == event).fill_null(False).cast(pl.Int8) * STAGE_RANK[name]
                               for event, name in EVENT_STAGE.items() if STAGE_RANK[name]]).cast(pl.Int8)
    return frame.with_columns(stage.alias("stage_rank"))


def _since(frame: Any, start: datetime | None) -> Any:
    """Rows from the start of the window on, for polars or any engine's frame."""
    if frame is None or start is None:
        return frame
    if isinstance(frame, pl.DataFrame):
        return frame.filter(pl.col("timestamp") >= start)
    return engine.lazy(frame).filter(engine.nw.col("timestamp") >= start).to_native()


def _prepare_spark(tables: Mapping[str, Any], settings: Settings) -> Prepared:
    """prepare() for Spark frames: the cut and filters run on Spark; the small tables come back to polars."""
    nw = engine.nw

    def last(name: str) -> datetime | None:
        return engine.collect(engine.lazy(tables[name]).select(nw.col("timestamp").max())).item() \
            if name in tables else None

    stamps = [s for s in (last(n) for n in ("interactions", "orders", "surveys")) if s is not None]
    as_of = resolve_as_of(settings, max(stamps) if stamps else None)
    if as_of is None:
        raise ValueError("There is nothing to report on: upload interactions or orders.")
    after: dict[str, int] = {"customers": 0}
    cut: dict[str, Any] = {}
    add_orders = True
    for name, column in CUT_ON.items():
        if name not in tables:
            cut[name] = None
            continue
        frame = engine.lazy(tables[name])
        limit = nw.col(column) <= _limit(as_of, column)
        after[name] = int(engine.collect(frame.filter(~limit).select(nw.len())).item())
        frame = frame.filter(limit)
        if name == "interactions":  # judged after the cut, before the filters (see prepare)
            add_orders = not engine.has_purchase(frame.to_native())
        if settings.channels:
            frame = frame.filter(nw.col("channel").is_in(list(settings.channels)))
        cut[name] = frame
    customers = engine.collect(engine.lazy(tables["customers"])) if "customers" in tables else None
    notes: list[str] = []
    ids = segment_ids(customers, settings.segments, notes)
    if ids is not None:
        for name in ("interactions", "orders", "surveys"):
            if cut[name] is not None:
                cut[name] = cut[name].filter(nw.col("customer_id").is_in(ids.to_list()))
    interactions = cut["interactions"].to_native() if cut["interactions"] is not None else None
    completed = cut["orders"].filter(nw.col("status").fill_null("completed") == "completed").to_native() \
        if cut["orders"] is not None else None
    surveys = engine.collect(cut["surveys"]) if cut["surveys"] is not None else None
    spend = engine.collect(cut["spend"]) if cut["spend"] is not None else None
    return Prepared(as_of, completed, surveys, spend, customers,
                    engine.touches(interactions, completed, add_orders=add_orders), after, notes)


# --- the sections, re-exported under the names the tests and pages have used ---------------------------------

sessions = conversion.sessions
nps_exprs = nps.nps_exprs
period_label = engine.period_label


def funnel(t: Any) -> pl.DataFrame:
    """Customers reaching each stage (that stage or a later one) per channel, plus overall rows (channel null)."""
    return conversion.funnel(engine.funnel_best(t))


MISSING = {
    "interactions": "Upload interactions (web, app, store, email events) to see sessions, funnels and journeys.",
    "orders": "Upload orders to see revenue, cohorts and customer lifetime value.",
    "surveys": "Upload survey responses to see NPS and CSAT.",
    "spend": "Upload marketing spend to see CAC and ROAS.",
}
CHANNEL_COLUMNS = ["channel", "sessions", "converting_sessions", "session_conversion_rate", "visitors", "buyers",
                   "customer_conversion_rate", "orders", "revenue", "aov", "new_customers", "spend", "cac", "roas",
                   "nps", "nps_moe", "nps_responses", "csat"]
NPS_EXTRA = ["promoters", "passives", "detractors", "csat_responses", "small_sample"]


# --- the report --------------------------------------------------------------------------------------------

def build_report(tables: Mapping[str, pl.DataFrame], settings: Settings | None = None,
                 progress: Callable[[str], None] | None = None,
                 rows: Mapping[str, Mapping[str, Any]] | None = None, *, models: bool = True,
                 memo: Memo | None = None) -> Report:
    """Every figure of METRICS.md §10 for these tables under these settings.

    `rows` is the loader's per-table {read, used, set_aside, duplicates_dropped}; after_as_of is added here.
    `models=False` leaves out the CLV and churn models and attribution (their keys say so) and keeps what they
    need in `Report.inputs`: `add_models` adds them later (the dashboard shows the descriptive pages first), and
    the benchmark of the descriptive sections uses it. `build_report(..., models=True)` is exactly
    `add_models(build_report(..., models=False))`. `memo` (one per dataset) keeps the parts other settings reuse:
    a report built with it is the report built without it, sooner.
    """
    report = _descriptive(tables, settings or Settings(), progress, rows, memo)
    if models:
        return add_models(report, progress)
    (progress or (lambda _msg: None))("done")
    return report


@dataclass
class ModelResults:
    """The models and attribution of one view: what `add_models` adds to a report (see `model_results`)."""

    clv: dict[str, Any]  # the report's `clv` entry
    clv_frame: pl.DataFrame | None  # per customer: p_alive, expected purchases and AOV, predicted CLV
    churn: dict[str, Any]  # the report's `churn` entry
    churn_frame: pl.DataFrame | None  # per customer: churn_risk, risk_band, risk_reasons
    attribution: pl.DataFrame | None  # channel × model credit (None: attribution_error says why)
    attribution_error: str | None


def model_results(touches: Any, orders: Any, surveys: pl.DataFrame | None, as_of: datetime, settings: Settings,
                  facts: Callable[[], pl.DataFrame] | None = None,
                  progress: Callable[[str], None] | None = None) -> ModelResults:
    """The CLV and churn models and the six attribution models of a prepared view (Prepared's touches, completed
    orders and surveys at as_of). `facts`: the view's per-customer facts, which the CLV model reads on Spark
    (they are its summary there); on polars it summarises the orders itself."""
    say = progress or (lambda _msg: None)
    say("models")
    clv_dict, clv_frame = _clv(orders, as_of, settings, facts)
    churn_dict, churn_frame = _churn(touches, orders, surveys, as_of, settings)
    say("attribution")
    attribution, attribution_error = _attribution(touches, orders, settings)
    return ModelResults(clv_dict, clv_frame, churn_dict, churn_frame, attribution, attribution_error)


def add_models(report: Report, progress: Callable[[str], None] | None = None) -> Report:
    """`report` (built with models=False) with the CLV and churn models and attribution added: the `clv`,
    `churn` and `attribution` keys, the model columns of the per-customer table and the CLV-by frames. A new
    Report; `report` is left as it was."""
    inputs = report.inputs
    if inputs is None:
        raise ValueError("this report keeps no model inputs: build it with models=False")
    return with_models(report, model_results(inputs.touches, inputs.orders, inputs.surveys, inputs.as_of,
                                             report.settings, lambda: inputs.facts, progress))


def with_models(report: Report, results: ModelResults) -> Report:
    """`report` (built with models=False) with `results` (model_results of its view) added, as add_models."""
    if report.inputs is None:
        raise ValueError("this report keeps no model inputs: build it with models=False")
    facts = report.inputs.facts
    for frame in (results.clv_frame, results.churn_frame):
        if frame is not None:
            facts = facts.join(frame, on="customer_id", how="left")
    customers_out = _customers_out(facts)
    attribution = results.attribution
    data = report.data | {  # the same keys in the same order, three of them now filled
        "clv": results.clv, "churn": results.churn,
        "attribution": _records(attribution) if attribution is not None else {"error": results.attribution_error},
    }
    frames = report.frames | {
        "attribution": attribution if attribution is not None else report.frames["attribution"],
        **_clv_by(customers_out),
    }
    return Report(data=data, frames=frames, settings=report.settings, table=customers_out)


def _customers_out(facts: pl.DataFrame) -> pl.DataFrame:
    """The per-customer table of §10: the model columns empty where the models did not run."""
    customers_out = facts.with_columns(
        *(pl.lit(None, pl.Float64).alias(c) for c in ("p_alive", "expected_purchases", "expected_aov",
                                                      "predicted_clv", "churn_risk") if c not in facts.columns),
        *(pl.lit(None, pl.String).alias(c) for c in ("risk_band",) if c not in facts.columns),
    )
    extra = [c for c in ("predicted_clv_margin", "risk_reasons") if c in customers_out.columns]
    return customers_out.select(*CUSTOMER_COLUMNS, *extra).sort("customer_id")


CLV_BY = ("clv_by_cohort", "clv_by_acquisition_channel", "clv_by_n_channels")


def _clv_by(customers: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {name: clv_history.clv_by(customers, name.removeprefix("clv_by_")) for name in CLV_BY}


def _descriptive(tables: Mapping[str, pl.DataFrame], settings: Settings, progress: Callable[[str], None] | None,
                 rows: Mapping[str, Mapping[str, Any]] | None, memo: Memo | None = None) -> Report:
    """Every figure but the models and attribution, with what those need in `inputs`. The parts that a
    change of period, start date or segment leaves alone come from `memo` when it holds them (see Memo)."""
    say = progress or (lambda _msg: None)
    memo = memo if memo is not None else Memo()
    say("preparing touches")
    spark = any(engine.is_spark(f) for f in tables.values())
    prep = _prepare_spark(tables, settings) if spark else prepare(tables, settings, memo)
    as_of, period = prep.as_of, settings.period
    as_of_period = pl.select(period_index(pl.lit(as_of), period)).item()
    # start limits the event-window figures; lifetime figures use the whole history up to as_of
    start = datetime.combine(settings.start, time.min) if settings.start else None
    orders_all = prep.orders
    orders = _since(orders_all, start)
    surveys = prep.surveys.filter(pl.col("timestamp") >= start) if prep.surveys is not None and start \
        else prep.surveys
    spend = prep.spend.filter(pl.col("date") >= settings.start) if prep.spend is not None and settings.start \
        else prep.spend
    missing = {name: sentence for name, sentence in MISSING.items() if name not in tables}
    notes = list(missing.values()) + prep.notes
    e = _EngineFrames(settings.engine, prep, start, orders, orders_all)
    # what the lifetime figures depend on besides the dataset; the window's add the start and the session gap
    view = (as_of, *_filters(settings), settings.engine)
    # each buyer's orders per day (polars): the facts, the cohort grid and, without a start date, the trend's
    o_days = memo.get(("order_days", *view), lambda: _order_days(memo, prep, view)) \
        if settings.engine == "polars" and isinstance(orders_all, pl.DataFrame) else None

    say("sessions and conversion")
    gap = settings.session_gap_minutes
    index = kept_all = kept = chosen = whole = None
    if settings.engine == "polars" and not spark:  # the sessions of every view of this cut, from one pass
        cut = prep.root or prep
        index = memo.get(("sessions", cut.as_of, gap), lambda: _session_index(memo, cut, gap))
        # the view as a mask of the cut's places (its lifetime's; its window's from the start on); a cut made
        # of a later cut's rows keeps its places up to its own as_of
        until = as_of if as_of < cut.as_of else None
        chosen, mask_all = memo.get(("mask", as_of, *_filters(settings)),
                                    lambda: _view_places(index, settings, prep, until))
        # the arrays at the view's places, shared by its facts and (without a start date) its window
        kept_all = index.kept(mask_all)
        kept = kept_all if start is None else \
            index.kept(index.mask(settings.channels or (), chosen, (settings.start - date(1970, 1, 1)).days, until))
        whole = memo.peek(("window", as_of, None, (), settings.engine, settings.start, gap)) \
            if settings.channels or settings.segments else None
    facts_key = ("facts", *view)
    facts_known = memo.peek(facts_key) is not None
    # the journey steps, when the facts leave them out, on first use: from the same places
    # (from the mask: the report may be kept long, its arrays need not be)
    steps = (lambda: index.journey_steps(mask_all)) if index is not None else None

    def make_facts() -> pl.DataFrame:
        return _customer_facts(memo, e, prep, settings, view, o_days, index, kept_all)

    with ThreadPoolExecutor(max_workers=1) as pool:
        # on polars the per-customer facts (arrays of the session index) are worked out beside the window's
        # figures, then the trend beside the silence figures: numpy and polars let go of the GIL
        beside = pool.submit(memo.get, facts_key, make_facts) if index is not None else None
        # the same window under another session gap differs in its sessions alone
        other_gap = memo.newest(("window", *view, settings.start)) if index is not None else None
        window = memo.get(("window", *view, settings.start, gap),
                          lambda: other_gap.under_gap(index.days(kept), gap) if other_gap is not None else
                          _Window.of(e, gap, index, o_days, kept, whole, settings.channels or (), chosen,
                                     spare=facts_known))
        say("per-customer facts")
        customer_facts = beside.result() if beside is not None else memo.get(facts_key, make_facts)
        # the trend (of the facts it reads only the first orders) beside the lifetime figures
        later = pool.submit(_trend, e, window, surveys, customer_facts, period, start) if beside is not None else None
        life = memo.get(("lifetime", *view, settings.silence_factor, settings.silence_floor_days),
                        lambda: _Lifetime.of(customer_facts, orders_all, prep.surveys, settings, as_of, say, steps))
        say("channels")
        # the channel table and the overall figures do not depend on the period: kept for a change of it
        channels_frame, overall = memo.get(
            ("figures", *view, settings.start, gap, settings.silence_factor, settings.silence_floor_days),
            lambda: _figures(window, life.facts, orders, surveys, spend, start, as_of, say))
        say("trend")
        trend = later.result() if later is not None else _trend(e, window, surveys, life.facts, period, start)

    # the figures only some pages read, in three parts made on first read, so that a page waits for its own:
    # the cohort grid (Retention), NPS per period (Satisfaction), and the rest (journeys, RFM, the customers)
    cohort_part = Later(lambda: cohort_tables(o_days, e, life.facts, period, as_of_period) if orders_all is not None
                        else cohorts.cohort_grid(None, life.facts, period, as_of_period))
    nps_part = Later(lambda: (nps.nps_by_period(surveys, period), nps.detractor_comments(surveys)))
    sections = Later(lambda: _Sections.of(life, period))

    def part(later: Later, i: int, as_records: Callable[[pl.DataFrame], Any] | None = None) -> Callable[[], Any]:
        return lambda: as_records(later.get()[i]) if as_records else later.get()[i]

    def rest(kind: str, key: str) -> Callable[[], Any]:
        return lambda: getattr(sections.get(), kind)[key]

    def nps_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
        return _records(frame.select("period", "channel", "nps", "nps_moe", "responses", "small_sample"))
    data = LazyDict({
        "as_of": as_of.isoformat(sep=" "),
        "settings": settings.to_query(),
        "rows": _rows(tables, rows, prep.after_as_of),
        "overall": _json_safe(overall),
        "channels": _records(channels_frame.select(CHANNEL_COLUMNS + ["small_sample"])),
        "funnel": _records(window.funnel),
        "cohorts": None,
        "retention_rate": None,
        "clv": {"error": "not computed yet"},
        "nps_by_period": None,
        "silent_moments": None,
        "churn": {"error": "not computed yet"},
        "attribution": {"error": "not computed yet"},
        "journeys": None,
        "channel_mix": None,
        "rfm": None,
        "missing": missing,
        "notes": notes,
    }, {"cohorts": part(cohort_part, 0, _records), "retention_rate": part(cohort_part, 1, _records),
        "nps_by_period": part(nps_part, 0, nps_records), **{key: rest("data", key) for key in _Sections.DATA}})
    frames = LazyDict({
        "channels": channels_frame, "funnel": window.funnel, "cohorts": None, "retention_rate": None,
        "nps_by_period": None, "silent_moments": None,
        "attribution": pl.DataFrame(  # until add_models
            schema={"channel": pl.String, "model": pl.String, "conversions": pl.Float64, "value": pl.Float64}),
        "journeys": None, "channel_mix": None, "rfm": None, "trend": trend, "sankey": None,
        "detractor_comments": None, **dict.fromkeys(CLV_BY),
    }, {"cohorts": part(cohort_part, 0), "retention_rate": part(cohort_part, 1), "nps_by_period": part(nps_part, 0),
        "detractor_comments": part(nps_part, 1), **{key: rest("frames", key) for key in _Sections.FRAMES}})
    return Report(data=data, frames=frames, settings=settings,
                  inputs=ModelInputs(prep, orders_all, prep.surveys, as_of, sections), table=sections)


@dataclass
class _Sections:
    """The figures of a report that only some pages read and that are made from the lifetime figures alone —
    silent moments, journeys, channel mix, RFM, CLV by group, the per-customer table — on first read (see
    LazyDict; the cohort grid and NPS per period are parts of their own)."""

    DATA: ClassVar[tuple[str, ...]] = ("silent_moments", "journeys", "channel_mix", "rfm")
    FRAMES: ClassVar[tuple[str, ...]] = ("silent_moments", "journeys", "channel_mix", "rfm", "sankey", *CLV_BY)

    data: dict[str, Any]
    frames: dict[str, pl.DataFrame]
    customers: pl.DataFrame
    facts: pl.DataFrame  # the per-customer facts with RFM scores and cohorts (what the models read)

    @classmethod
    def of(cls, life: _Lifetime, period: str) -> _Sections:
        scored, moments, top_journeys, sankey, mix = life.rest()
        facts = scored.with_columns(period_label(period_index(pl.col("first_order"), period), period).alias("cohort"))
        customers_out = _customers_out(facts)
        segments = rfm.rfm_segments(customers_out)
        data = {
            "silent_moments": _records(moments),
            "journeys": _records(top_journeys),
            "channel_mix": _records(mix),
            "rfm": _records(segments),
        }
        frames = {"silent_moments": moments, "journeys": top_journeys, "channel_mix": mix, "rfm": segments,
                  "sankey": sankey, **_clv_by(customers_out)}
        return cls(data, frames, customers_out, facts)


def _figures(window: _Window, facts: pl.DataFrame, orders: Any, surveys: pl.DataFrame | None,
             spend: pl.DataFrame | None, start: datetime | None, as_of: datetime,
             say: Callable[[str], None]) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The per-channel table and the overall figures of a view (neither depends on the period)."""
    conv, by_order_channel, counts = window.conversion, window.order_channels, window.counts
    channels_frame = _channel_table(conv, by_order_channel, facts, surveys, spend, start, as_of)

    say("overall figures")
    n_orders = int(by_order_channel["orders"].sum()) if orders is not None else None
    revenue = float(by_order_channel["revenue"].sum()) if orders is not None else None
    survey_all = nps.overall(surveys) if surveys is not None else {}
    total_spend = float(spend["spend"].sum()) if spend is not None else None
    new_total = int(channels_frame["new_customers"].sum()) if orders is not None else None
    overall: dict[str, Any] = {
        **counts,
        "sessions": int(channels_frame["sessions"].sum()),
        "converting_sessions": int(channels_frame["converting_sessions"].sum()),
    }
    overall |= {
        "session_conversion_rate": div(overall["converting_sessions"], overall["sessions"]),
        "customer_conversion_rate": div(overall["buyers"], overall["visitors"]),
        "orders": n_orders, "revenue": revenue, "aov": div(revenue, n_orders),
        "repeat_purchase_rate": cohorts.repeat_purchase_rate(facts) if orders is not None else None,
        "avg_historical_clv": clv_history.avg_historical_clv(facts) if orders is not None else None,
        "nps": survey_all.get("nps"), "nps_moe": survey_all.get("nps_moe"),
        "nps_responses": survey_all.get("nps_responses"), "csat": survey_all.get("csat"),
        "spend": total_spend, "cac": div(total_spend, new_total) if orders is not None else None,
        "roas": div(revenue, total_spend) if orders is not None else None,
        "silent_customers": int(facts["silent"].sum() or 0),
        "omnichannel_premium": clv_history.omnichannel_premium(facts) if orders is not None else None,
    }
    return channels_frame, overall


def cohort_tables(days: pl.DataFrame | None, e: _EngineFrames | None, facts: pl.DataFrame | None, period: str,
                  as_of_period: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The cohort grid and retention rates: on polars from the buyers' orders per day (engine.order_days, in
    customer, day order, so each customer's periods are runs of rows), else from the engine's orders per
    customer and period and the facts' first orders."""
    if days is None or days.is_empty():
        return cohorts.cohort_grid(engine.period_activity(e.orders_all, period),
                                   facts.filter(pl.col("first_order").is_not_null()), period, as_of_period)
    p, starts = engine.customer_periods(days, period)
    activity = pl.DataFrame({"customer_id": days["c"].gather(starts), "p": p.gather(starts),
                             "revenue": np.add.reduceat(days["revenue"].to_numpy(), starts.to_numpy())})
    first = days.filter((pl.col("c") != pl.col("c").shift(1)).fill_null(True)).select(
        pl.col("c").alias("customer_id"), pl.col("day").cast(pl.Int32).cast(pl.Date).alias("first_order"))
    return cohorts.cohort_grid(activity, first, period, as_of_period)


def _with_order_facts(facts: pl.DataFrame, has_orders: bool) -> pl.DataFrame:
    """The order columns of the per-customer facts: zero orders for customers who only touched; all null
    (and zero orders) without an orders table."""
    if has_orders and "orders" in facts.columns:
        return facts.with_columns(pl.col("orders").fill_null(0), pl.col("revenue").fill_null(0.0))
    return facts.with_columns(
        pl.lit(None, pl.Datetime("us")).alias("first_order"),
        pl.lit(None, pl.String).alias("acquisition_channel"), pl.lit(0, pl.Int64).alias("orders"),
        pl.lit(0.0).alias("revenue"), pl.lit(None, pl.Datetime("us")).alias("last_order"),
        *(pl.lit(None, pl.Float64).alias(c) for c in ("frequency", "recency", "T", "monetary_value")))


def _channel_table(conv: pl.DataFrame, by_orders: pl.DataFrame | None, facts: pl.DataFrame,
                   surveys: pl.DataFrame | None, spend: pl.DataFrame | None, start: datetime | None,
                   as_of: datetime) -> pl.DataFrame:
    """One row per channel seen in touches, orders, spend or surveys with the figures of sections 1, 2, 5."""
    seen = [conv.select("channel")] + [f.select("channel") for f in (by_orders, surveys, spend) if f is not None]
    table = pl.concat(seen).unique().drop_nulls().sort("channel").join(conv, on="channel", how="left")
    if by_orders is not None:
        table = (table.join(by_orders, on="channel", how="left")
                 .join(acquisition.new_customers(facts, start, as_of), on="channel", how="left")
                 .with_columns(pl.col("orders").fill_null(0), pl.col("revenue").fill_null(0.0),
                               pl.col("new_customers").fill_null(0)))
    else:
        table = table.with_columns(pl.lit(None, pl.Int64).alias("orders"), pl.lit(None, pl.Float64).alias("revenue"),
                                   pl.lit(None, pl.Int64).alias("new_customers"))
    if spend is not None:
        table = table.join(acquisition.spend_by_channel(spend), on="channel", how="left") \
            .with_columns(pl.col("spend").fill_null(0.0))
    else:
        table = table.with_columns(pl.lit(None, pl.Float64).alias("spend"))
    if surveys is not None:
        table = table.join(nps.by_channel(surveys), on="channel", how="left").with_columns(
            pl.col("nps_responses").fill_null(0), pl.col("csat_responses").fill_null(0),
            pl.col("small_sample").fill_null(True))
    else:
        table = table.with_columns(*(pl.lit(None, pl.Float64).alias(c) for c in (
            "nps", "nps_moe", "csat", "promoters", "passives", "detractors")),
            pl.lit(None, pl.Int64).alias("nps_responses"), pl.lit(None, pl.Int64).alias("csat_responses"),
            pl.lit(None, pl.Boolean).alias("small_sample"))
    table = conversion.conversion_rates(table).with_columns(
        ratio(pl.col("revenue"), pl.col("orders")).alias("aov"))
    return acquisition.cac_roas(table).select(CHANNEL_COLUMNS + NPS_EXTRA)


def _rows(tables: Mapping[str, Any], rows: Mapping[str, Mapping[str, Any]] | None,
          after_as_of: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """Per table {read, used, set_aside, duplicates_dropped} from the loader (or the table's height when not
    given) plus after_as_of: used rows the as_of cut leaves out."""
    out = {}
    for name in ("interactions", "orders", "surveys", "spend", "customers"):
        if name not in tables:
            continue
        base = dict(rows.get(name, {})) if rows else {}
        used = base.get("used")
        if used is None:
            used = engine.height(tables[name])
        base.setdefault("read", used)
        base.setdefault("used", used)
        base.setdefault("set_aside", {})
        base.setdefault("duplicates_dropped", 0)
        base["after_as_of"] = after_as_of.get(name, 0)
        out[name] = base
    return out


def _trend(e: _EngineFrames, window: _Window, surveys, facts, period, start) -> pl.DataFrame:
    """Per period of the window: customers active, buyers, orders, revenue, aov, new customers, sessions,
    session conversion, NPS (the Overview's change-vs-previous-period tiles)."""
    parts = [engine.touch_periods(e.t if window.touch_days is None else None, period, window.touch_days)]
    if e.orders is not None:
        parts.append(engine.order_periods(e.orders if window.order_days is None else None, period,
                                          window.order_days))
        first = facts.filter(pl.col("first_order").is_not_null()
                             & ((pl.col("first_order") >= start) if start else pl.lit(True)))
        parts.append(first.group_by(period_index(pl.col("first_order"), period).alias("p"))
                     .agg(pl.len().cast(pl.Int64).alias("new_customers")))
    if surveys is not None and surveys.height:
        parts.append(surveys.group_by(period_index(pl.col("timestamp"), period).alias("p")).agg(nps_exprs()[0]))
    out = parts[0].with_columns(pl.col("p").cast(pl.Int64))
    for part in parts[1:]:
        out = out.join(part.with_columns(pl.col("p").cast(pl.Int64)), on="p", how="full", coalesce=True)
    for column in ("buyers", "orders", "revenue", "new_customers", "nps"):
        if column not in out.columns:
            out = out.with_columns(pl.lit(None, pl.Float64).alias(column))
    # a session counts in the period of its first touch
    session_trend = engine.session_periods(window.days, period).with_columns(pl.col("p").cast(pl.Int64))
    out = out.join(session_trend, on="p", how="left")
    return out.sort("p").select(
        period_label(pl.col("p"), period).alias("period"), "customers", "buyers", "orders", "revenue",
        ratio(pl.col("revenue"), pl.col("orders")).alias("aov"), "new_customers", "sessions",
        ratio(pl.col("converting_sessions"), pl.col("sessions")).alias("session_conversion_rate"), "nps",
    )


class _EngineFrames:
    """The window's and the lifetime's touches and orders as native frames of the chosen engine (converted on
    first use: a part found in the memo needs none of them)."""

    def __init__(self, name: str, prep: Prepared, start: datetime | None, orders, orders_all) -> None:
        self._make = {"t": lambda: _since(prep.touches, start), "t_all": lambda: prep.touches,
                      "orders": lambda: orders, "orders_all": lambda: orders_all}
        self._duckdb = name == "duckdb"
        self._con = None

    def __getattr__(self, name: str):
        if name not in ("t", "t_all", "orders", "orders_all"):
            raise AttributeError(name)
        frame = self._make[name]()
        if self._duckdb and isinstance(frame, pl.DataFrame):
            if self._con is None:
                import duckdb

                self._con = duckdb.connect()
                self._con.execute(f"SET threads TO {max(1, pl.thread_pool_size())}")
            frame = self._con.from_arrow(frame.to_arrow())
        setattr(self, name, frame)
        return frame


@dataclass
class _Window:
    """The figures of the event window (start to as_of) that do not depend on the period."""

    days: pl.DataFrame  # sessions per channel and day (engine.session_days)
    conversion: pl.DataFrame  # engine.channel_conversion
    order_channels: pl.DataFrame | None
    counts: dict[str, int]
    funnel: pl.DataFrame
    touch_days: pl.DataFrame | None  # polars only: engine.touch_days, order_days (the trend of any period)
    order_days: pl.DataFrame | None
    cells: tuple[np.ndarray, np.ndarray] | None = None  # an unfiltered window's SessionIndex.stage_cells

    def under_gap(self, days: pl.DataFrame, gap_minutes: int) -> _Window:
        """This window under another session gap, given its sessions per channel and day under that gap: the
        rest (visitors, buyers, funnel, customer-days, orders) does not depend on the gap."""
        people = self.conversion.select("channel", "visitors", "buyers").filter(pl.col("visitors").is_not_null())
        return replace(self, days=days, conversion=engine.channel_conversion(None, gap_minutes, days, people))

    @classmethod
    def of(cls, e: _EngineFrames, gap_minutes: int, index: engine.SessionIndex | None,
           order_days: pl.DataFrame | None = None, kept: engine.KeptPlaces | None = None,
           whole: _Window | None = None, channels: tuple[str, ...] = (), chosen: np.ndarray | None = None,
           spare: bool = False) -> _Window:
        """From the window's touches, or on polars from the cut's session `index` and the window's places in
        it (`kept`: SessionIndex.mask's, with their arrays), without the touches. `whole`: the window of the
        same start without the channel and segment filters (`channels`, `chosen`: SessionIndex.chosen), when
        there is one: the window's funnel tables are its tables narrowed, and under a channel filter alone, its
        sessions too when no session spans channels. `order_days`: engine.order_days of the whole history's
        orders (those of the window when no start). `spare`: whether a core is free beside the window (nothing
        else is being worked out at the same time): the sessions per day are made there."""
        orders = engine.order_channels(e.orders) if e.orders is not None else None
        cells = None
        if index is None:
            days = engine.session_days(e.t, gap_minutes)
            if not isinstance(e.t, pl.DataFrame):
                return cls(days, engine.channel_conversion(e.t, gap_minutes, days), orders,
                           engine.window_counts(e.t, e.orders), conversion.funnel(engine.funnel_best(e.t)), None, None)
            tables, touch_days = engine.window_tables(e.t, e.orders), engine.touch_days(e.t)
        else:
            narrowed = whole is not None and whole.cells is not None
            if narrowed and chosen is None and index.sessions_in_one_channel():
                days = whole.days.filter(pl.col("channel").is_in(list(channels)))
            elif spare:  # on the free core, beside the funnel cells and the customer-days
                days = engine.beside(lambda: index.days(kept))
            else:
                days = index.days(kept)
            cells = whole.cells if narrowed else index.stage_cells(kept)
            tables = index.window_tables(cells, e.orders, *((channels, chosen) if narrowed else ((), None))) \
                if cells is not None and kept.any() else None
            touch_days = index.customer_days(kept)
            cells = cells if not channels and chosen is None else None
            days = days if isinstance(days, pl.DataFrame) else days()
        if tables is None:
            tables = {"people": None, "counts": engine.window_counts(e.t, e.orders), "funnel": engine.funnel_best(e.t)}
        people = tables["people"]
        return cls(days, engine.channel_conversion(e.t if people is None else None, gap_minutes, days, people),
                   orders, tables["counts"], conversion.funnel(tables["funnel"]), touch_days,
                   (order_days if order_days is not None and e.orders is e.orders_all else engine.order_days(e.orders))
                   if e.orders is not None else None, cells)


def _session_index(memo: Memo, cut: Prepared, gap: int) -> engine.SessionIndex:
    """The session index of a cut under a session gap: the index of the same cut under another gap, re-split
    (SessionIndex.with_gap), when the memo holds one; else its touches sessionised."""
    other = memo.newest(("sessions", cut.as_of))
    return other.with_gap(gap) if other is not None else engine.SessionIndex(cut.touches, gap, cut.touch_rows)


def _order_days(memo: Memo, prep: Prepared, view: tuple) -> pl.DataFrame:
    """engine.order_days of a cut's orders (`view`: its memo key's as_of, filters and engine). A cut at the end
    of a day made of a later cut's rows keeps every order of the later cut up to that day: its days are those of
    the later cut's (when the memo holds them) up to that day, not worked out again."""
    as_of, root = view[0], prep.root
    if root is not None and root.as_of > as_of and as_of.time() == time.max:
        later = memo.peek(("order_days", root.as_of, *view[1:]))
        if later is not None:
            return later.filter(pl.col("day") <= (as_of.date() - date(1970, 1, 1)).days)
    return engine.order_days(prep.orders)


def _view_places(index: engine.SessionIndex, settings: Settings, prep: Prepared,
                 until: datetime | None) -> tuple[np.ndarray | None, np.ndarray]:
    """A view of the cut in its session index: the segment's customers (SessionIndex.chosen; None without a
    segment filter) and the view's places (SessionIndex.mask) up to `until` (None: all)."""
    chosen = index.chosen(prep.segment) if prep.segment is not None else None
    return chosen, index.mask(settings.channels or (), chosen, until=until)


def _customer_facts(memo: Memo, e: _EngineFrames, prep: Prepared, settings: Settings, view: tuple,
                    order_days: pl.DataFrame | None, index: engine.SessionIndex | None,
                    kept: engine.KeptPlaces | None) -> pl.DataFrame:
    """The engine's lifetime per-customer facts; on polars from the view's places in the cut's session `index`
    (`kept`). Under a segment filter, the segment's rows of the facts without it when the memo holds those: a
    customer's facts depend on their own rows only."""
    if settings.segments:
        everyone = memo.peek(("facts", view[0], view[1], (), view[3]))
        if everyone is not None:
            ids = segment_ids(prep.customers, settings.segments, [])
            return everyone.filter(pl.col("customer_id").is_in(ids.implode()))
    if index is not None and kept.any() and engine.facts_coded(index.touches, e.orders_all):
        return engine.customer_facts(None, e.orders_all, prep.as_of, None, index.places(kept), order_days,
                                     steps=False).facts
    return engine.customer_facts(e.t_all, e.orders_all, prep.as_of, None, None, order_days).facts


def _with_rfm(facts: pl.DataFrame, as_of_date: date) -> pl.DataFrame:
    """The facts (sorted by customer_id) with the RFM scores of their buyers (null for the others). rfm_scores
    lists the buyers in customer_id order, as the facts hold them: the scores are placed by the buyers' rows
    (checked) instead of joining a million ids."""
    buyer = (facts["orders"] > 0).fill_null(False)
    scores = rfm.rfm_scores(facts.filter(buyer), as_of_date)
    if not scores["customer_id"].equals(facts["customer_id"].filter(buyer)):
        joined = facts.join(scores, on="customer_id", how="left", maintain_order="left")
        return joined.with_columns(pl.col("customer_id").set_sorted()) \
            if facts["customer_id"].flags["SORTED_ASC"] else joined
    at = pl.Series(np.cumsum(buyer.to_numpy()) - 1).set(~buyer, None)  # a buyer's row among the buyers
    return facts.with_columns(scores[name].gather(at) for name in scores.columns if name != "customer_id")


@dataclass
class _Lifetime:
    """The per-customer facts up to as_of with silence, and what is made of them alone (the journey as text,
    RFM scores, silent moments, journeys; `rest`, on first use): the figures a change of period or start date
    leaves alone."""

    facts: pl.DataFrame  # sorted by customer_id
    surveys: pl.DataFrame | None
    as_of: datetime
    steps: Callable[[], pl.DataFrame] | None  # customer_code, steps: when the facts come without them
    _rest: Later | None = None

    @classmethod
    def of(cls, facts: pl.DataFrame, orders: Any, surveys: pl.DataFrame | None, settings: Settings,
           as_of: datetime, say: Callable[[str], None], steps: Callable[[], pl.DataFrame] | None) -> _Lifetime:
        say("silent moments")
        facts = silence.add_silence(_with_order_facts(facts, orders is not None), settings.silence_factor,
                                    settings.silence_floor_days).drop("active_days", "own_gap")
        facts = facts.sort("customer_id")  # the order of the per-customer table (and RFM's ties): sorted once here
        return cls(facts, surveys, as_of, steps)

    def rest(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """(the facts with the journey as text and RFM scores, silent moments, top journeys, Sankey links,
        channel mix), made once."""
        if self._rest is None:
            self._rest = Later(self._make_rest)
        return self._rest.get()

    def _make_rest(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        # the journey steps, when the facts leave them out, beside the figures that do not read them
        steps = engine.beside(self.steps) if "steps" not in self.facts.columns else None
        scored = _with_rfm(self.facts, self.as_of.date())
        moments, mix = silence.silent_moments(self.facts), journeys.channel_mix(self.facts, self.surveys)
        if steps is not None:
            scored = scored.join(steps(), on="customer_code", how="left", maintain_order="left").drop("customer_code")
        scored = scored.with_columns(pl.col("steps").list.join(" > ").alias("journey"))
        return scored, moments, journeys.journeys(scored), journeys.sankey(scored), mix


def _clv(orders, as_of, settings, facts: Callable[[], pl.DataFrame] | None):
    if orders is None or engine.height(orders) == 0:
        return {"error": "Upload orders to see customer lifetime value."}, None
    try:
        from omni_metrics.metrics import clv
    except ImportError:
        return {"error": "Predicted CLV is not available in this version."}, None
    if isinstance(orders, pl.DataFrame):
        summary = clv.clv_summary(orders, as_of)
    else:  # Spark: the engine's per-customer facts are the summary (METRICS.md §4, day unit)
        summary = facts().filter(pl.col("orders") > 0).select("customer_id", "frequency", "recency", "T",
                                                               "monetary_value").sort("customer_id")
    result, frame = clv.predict_clv(summary, settings.horizon_months, settings.discount_rate)
    return _json_safe(result), frame.drop([c for c in ("frequency", "recency", "T", "monetary_value")
                                           if c in frame.columns]) if frame is not None else None


def _churn(touches, orders, surveys, as_of, settings):
    if orders is None or engine.height(orders) == 0:
        return {"error": "Upload orders to see churn risk."}, None
    if not isinstance(orders, pl.DataFrame):
        return {"error": "The churn-risk model runs on the polars and DuckDB engines, not on Spark."}, None
    try:
        from omni_metrics.metrics import churn
    except ImportError:
        return {"error": "The churn-risk model is not available in this version."}, None
    result, frame = churn.churn_risk(touches, orders, surveys, as_of, horizon_days=settings.churn_horizon_days,
                                     high=settings.risk_high, medium=settings.risk_medium)
    return _json_safe(result), frame


def _attribution(touches, orders, settings):
    from omni_metrics.metrics.attribution import attribution_report

    if engine.height(touches) == 0:
        return None, "Upload interactions to see attribution."
    if orders is not None:
        order_values = orders.select("order_id", "revenue")
    elif isinstance(touches, pl.DataFrame):
        order_values = pl.DataFrame(schema={"order_id": pl.String, "revenue": pl.Float64})
    else:
        order_values = touches.select("order_id", engine.spark_null_float("revenue")).limit(0)
    try:
        frame = attribution_report(touches, order_values, lookback_days=settings.lookback_days,
                                   half_life_days=settings.half_life_days,
                                   position_weights=settings.position_weights)
    except ValueError as exc:
        return None, str(exc)
    return frame, None


def summary_lines(report: Report) -> list[str]:
    """A short human summary for the terminal."""
    o = report.data["overall"]

    def fmt(value, kind="n"):
        if value is None:
            return "–"
        if kind == "%":
            return f"{value:.1%}"
        if kind == "$":
            return f"{value:,.2f}"
        return f"{value:,.0f}" if isinstance(value, int | float) and float(value).is_integer() else f"{value:,.2f}"

    lines = [
        f"as of {report.data['as_of']}",
        f"customers {fmt(o['customers'])} · visitors {fmt(o['visitors'])} · buyers {fmt(o['buyers'])}",
        f"sessions {fmt(o['sessions'])} · session conversion {fmt(o['session_conversion_rate'], '%')} · "
        f"customer conversion {fmt(o['customer_conversion_rate'], '%')}",
        f"orders {fmt(o['orders'])} · revenue {fmt(o['revenue'], '$')} · AOV {fmt(o['aov'], '$')} · "
        f"repeat rate {fmt(o['repeat_purchase_rate'], '%')}",
        f"NPS {fmt(o['nps'])} ± {fmt(o['nps_moe'])} ({fmt(o['nps_responses'])} responses) · CSAT {fmt(o['csat'])}",
        f"silent customers {fmt(o['silent_customers'])} · omnichannel premium {fmt(o['omnichannel_premium'])}",
    ]
    clv_part = report.data.get("clv") or {}
    lines.append(f"predicted CLV (avg) {fmt(clv_part.get('avg_predicted_clv'), '$')}" if "error" not in clv_part
                 else f"predicted CLV: {clv_part['error']}")
    churn_part = report.data.get("churn") or {}
    lines.append(f"churn model ROC AUC {fmt(churn_part.get('roc_auc'))} vs recency {fmt(churn_part.get('baseline_roc_auc'))}"
                 if "error" not in churn_part else f"churn risk: {churn_part['error']}")
    return lines + [f"note: {n}" for n in report.data.get("notes", [])]
