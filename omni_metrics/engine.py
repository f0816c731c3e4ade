"""The event-scale rollups (touches → sessions, per-customer facts and periods, journeys), once on narwhals."""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from threading import Lock
from typing import Any, TypeVar

import narwhals as nw
import numpy as np
import polars as pl

from omni_metrics.schema import EVENT_STAGE, STAGE_RANK

# Written once against narwhals lazy frames, so the same code runs on polars, DuckDB and PySpark. Every
# order-dependent step is a window function over explicit sort keys (`touch_seq`, `row_nr`); only small
# results (per channel, per period, per customer) are collected, always to polars.

TOUCH_COLUMNS = ["customer_id", "timestamp", "channel", "event_type", "session_id", "campaign", "order_id",
                 "row_nr"]
TABLE_NAMES = ("interactions", "orders", "surveys", "spend", "customers")
T = TypeVar("T")


def beside(make: Callable[[], T]) -> Callable[[], T]:
    """Start `make` on a thread of its own and return what waits for its result: for work that overlaps the
    caller's next steps (numpy's and polars' loops let go of the GIL, and one core's loop leaves the other
    free). An exception reaches whoever waits."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(make)
    pool.shutdown(wait=False)  # the thread ends with its one task
    return future.result


class Later:
    """A value made on first read, once, by `make` (thread-safe): the parts of a report that only some pages
    read — its sections — so that a filter change on a million customers redraws the Overview without them; the
    arrays of a view's places (KeptPlaces)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make: Callable[[], Any] | None = make
        self._value: Any = None
        self._lock = Lock()

    def get(self) -> Any:
        with self._lock:
            if self._make is not None:
                self._value, self._make = self._make(), None
        return self._value


def lazy(frame: Any) -> nw.LazyFrame:
    """A narwhals LazyFrame over a native polars, DuckDB or Spark frame."""
    if isinstance(frame, pl.DataFrame):
        frame = frame.lazy()
    out = nw.from_native(frame)
    return out.lazy() if isinstance(out, nw.DataFrame) else out


def collect(frame: nw.LazyFrame) -> pl.DataFrame:
    return frame.collect("polars").to_native()


def day_number(ts: nw.Expr) -> nw.Expr:
    """Days since 1970-01-01 of a timestamp, in integer arithmetic every backend does the same way."""
    y = ts.dt.year().cast(nw.Int64)
    return (365 * (y - 1970) + (y - 1969) // 4 - (y - 1901) // 100 + (y - 1601) // 400
            + ts.dt.ordinal_day().cast(nw.Int64) - 1)


def period_index(ts: nw.Expr, period: str) -> nw.Expr:
    """report.period_index on narwhals: consecutive periods differ by 1, weeks start on Monday."""
    if period == "month":
        return ts.dt.year().cast(nw.Int64) * 12 + ts.dt.month().cast(nw.Int64) - 1
    if period == "quarter":
        return ts.dt.year().cast(nw.Int64) * 4 + (ts.dt.month().cast(nw.Int64) - 1) // 3
    return (day_number(ts) + 3) // 7  # 1970-01-01 was a Thursday: +3 aligns weeks on Mondays


def pl_period_index(ts: pl.Expr, period: str) -> pl.Expr:
    """period_index for polars expressions (per-customer tables): the same integers as the narwhals one."""
    d = ts.cast(pl.Date)
    if period == "month":
        return d.dt.year().cast(pl.Int64) * 12 + d.dt.month().cast(pl.Int64) - 1
    if period == "quarter":
        return d.dt.year().cast(pl.Int64) * 4 + (d.dt.month().cast(pl.Int64) - 1) // 3
    return (d.cast(pl.Int64) + 3) // 7  # 1970-01-01 was a Thursday: +3 aligns weeks on Mondays


def period_label(index: pl.Expr, period: str) -> pl.Expr:
    """The METRICS.md label of a period index: `2024-01`, `2024-Q1`, ISO week `2024-W05`."""
    if period == "month":
        return pl.format("{}-{}", index // 12, (index % 12 + 1).cast(pl.String).str.pad_start(2, "0"))
    if period == "quarter":
        return pl.format("{}-Q{}", index // 4, index % 4 + 1)
    monday = (index * 7 - 3).cast(pl.Int32).cast(pl.Date)
    return pl.format("{}-W{}", monday.dt.iso_year(), monday.dt.week().cast(pl.String).str.pad_start(2, "0"))


def _is_purchase() -> nw.Expr:
    return (nw.col("event_type") == "purchase").fill_null(False)


# --- touches ------------------------------------------------------------------------------------------------

def has_purchase(interactions: Any | None) -> bool:
    """Whether the interactions hold any purchase event (judged after the as_of cut, before any filter)."""
    return interactions is not None and collect(
        lazy(interactions).filter(_is_purchase()).select(nw.len())).item() > 0


def touches(interactions: Any | None, orders: Any | None = None, *, add_orders: bool | None = None) -> Any:
    """The ordered touches every metric uses.

    `touches(tables, settings)`: from the canonical tables, cut at as_of and filtered as the settings say
    (report.prepare), as one polars frame: customer_id, timestamp, channel, event_type, session_id, campaign,
    order_id, row_nr, stage_rank, touch_seq (Int64, per customer, METRICS.md's tie order).

    `touches(interactions, completed_orders)`: the rollup itself on native frames of one backend (polars,
    DuckDB, Spark; `row_nr` already added): interactions plus purchase touches from the completed orders when
    `add_orders` (default: when the interactions hold no purchase at all, DATA.md), returned as a native frame.
    """
    if isinstance(interactions, Mapping):
        from omni_metrics.report import Settings, prepare

        return prepare(interactions, orders if orders is not None else Settings()).touches
    parts = []
    if interactions is not None:
        parts.append(lazy(interactions).select(*TOUCH_COLUMNS).with_columns(
            nw.col("row_nr").cast(nw.Int64), source=nw.lit(0, nw.Int64)))
    if add_orders is None:
        add_orders = not has_purchase(interactions)
    if orders is not None and add_orders:
        parts.append(lazy(orders).select(
            "customer_id", "timestamp", "channel", nw.lit("purchase", nw.String).alias("event_type"),
            nw.lit(None, nw.String).alias("session_id"), nw.lit(None, nw.String).alias("campaign"), "order_id",
            nw.col("row_nr").cast(nw.Int64), nw.lit(1, nw.Int64).alias("source")))
    if not parts:
        raise ValueError("There is nothing to report on: upload interactions or orders.")
    frame = nw.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
    stage = nw.lit(0, nw.Int64)
    for event, stage_name in EVENT_STAGE.items():
        stage = nw.when(nw.col("event_type") == event).then(nw.lit(STAGE_RANK[stage_name], nw.Int64)) \
            .otherwise(stage)
    frame = frame.with_columns(
        stage_rank=stage.cast(nw.Int8),
        _oid=nw.col("order_id").fill_null(""), _sid=nw.col("session_id").fill_null(""),
    )
    keys = ["timestamp", "stage_rank", "channel", "event_type", "_oid", "_sid", "source", "row_nr"]
    seq = nw.col("row_nr").cum_count().over("customer_id", order_by=keys) - 1
    out = frame.with_columns(touch_seq=seq.cast(nw.Int64)).drop("_oid", "_sid").to_native()
    # Spark recomputes a lazy frame for every collect: keep the touches once for the dozen rollups over them.
    return out.cache() if is_spark(out) else out


TIE_KEYS = ("timestamp", "stage_rank", "channel", "event_type", "_oid", "_sid", "source", "row_nr")


def _codes(column: pl.Series) -> pl.Series:
    """Dense UInt32 codes of a column's values (equal values, equal codes; null a code of its own)."""
    if column.dtype == pl.String:
        return column.cast(pl.Categorical).to_physical().cast(pl.UInt32)
    return column.rank("dense").cast(pl.UInt32)


def pl_customer_seq(frame: pl.DataFrame) -> tuple[pl.Series, pl.Series, np.ndarray]:
    """(customer_code, touch_seq, the rows in (customer_code, touch_seq) order) of polars touches, the rows left
    in place: UInt32 customer codes (numbered in the order of a hash of the ids, so in no meaningful order) and
    each customer's touches numbered from 0 in METRICS.md's tie order.

    One sort gives both: the touches in time order (no sort at all when the rows already come in time order, as
    exports usually do), keyed by a hash of their customer id with their place in time in the low bits, sorted
    as plain integers, list each customer's touches together in time order — a customer's code is its group's
    number and a touch's number its place in the group (_key_groups). Only the rows that share a customer
    and a timestamp with another row (they are rare) are then re-dealt by the rest of the tie keys (TIE_KEYS;
    the frame needs those columns)."""
    n = frame.height
    if n == 0:
        return pl.Series("customer_code", [], pl.UInt32), pl.Series("touch_seq", [], pl.Int64), np.zeros(0, np.int64)
    ts = frame["timestamp"]
    by_time = None if ts.is_sorted() else \
        ts.to_frame("t").select(pl.arg_sort_by("t", maintain_order=True))["t"].to_numpy()  # ties by row number
    grouped, code_g, seq_g = _customer_groups(frame["customer_id"], by_time)  # rows by customer, then time
    # same customer, same moment: neighbours in (customer, time) order with equal timestamps (a null timestamp,
    # which canonical touches do not have, compares as the earliest one); gathered beside the scatters
    in_groups = beside(lambda: ts.fill_null(ts.min()).gather(grouped).to_numpy())
    code = np.empty(n, dtype=np.uint32)
    code[grouped] = code_g
    seq = np.empty(n, dtype=np.int64)
    seq[grouped] = seq_g
    t_g = in_groups()
    tie = np.zeros(n, dtype=bool)
    equal = (t_g[1:] == t_g[:-1]) & (code_g[1:] == code_g[:-1])
    tie[1:] |= equal
    tie[:-1] |= equal
    code_s, seq_s = pl.Series("customer_code", code), pl.Series("touch_seq", seq)
    if tie.any():
        at = np.flatnonzero(tie)
        tied_rows = pl.Series("pos", grouped[at])
        # a tied group's rows hold consecutive numbers of their customer: deal them out in full tie order
        resolved = frame[tied_rows].with_columns(
            pl.col("order_id").fill_null("").alias("_oid"), pl.col("session_id").fill_null("").alias("_sid"),
            code_s.gather(tied_rows).alias("c"), tied_rows, seq_s.gather(tied_rows).alias("_old"),
            pl.Series("_at", at))
        resolved = resolved.with_columns(pl.col("_old").min().over("c", "timestamp").alias("_low")) \
            .sort("c", *TIE_KEYS)
        resolved = resolved.with_columns(
            (pl.col("_low") + pl.int_range(pl.len(), dtype=pl.Int64).over("c", "timestamp")).alias("_seq"))
        seq_s = seq_s.scatter(resolved["pos"], resolved["_seq"])
        # a re-dealt row's place moves by its change of number
        grouped = grouped.copy()
        grouped[(resolved["_at"] - resolved["_old"] + resolved["_seq"]).to_numpy()] = resolved["pos"].to_numpy()
    return code_s, seq_s, grouped


def _customer_groups(ids: pl.Series, by_time: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows grouped by customer id, each group in time order (`by_time`: the rows in time order, None when
    they already are), with each place's group number and its place in its group (_key_groups)."""
    if by_time is not None:
        ids = ids.gather(by_time)
    at, code_g, seq_g = _key_groups(ids) or _key_groups(ids, exact=True)
    return (at if by_time is None else by_time[at]), code_g, seq_g


def _key_groups(ids: pl.Series, exact: bool = False, hash_bits: int = 64,
                cut_bits: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Ids in time order grouped: (the places listed by group, each in time order; each listed place's group
    number, groups numbered in the order of their keys, so the places come in group-number order; its place in
    its group). A group's key is a 64-bit hash of its id (`hash_bits` of it; tests lower it), or with `exact`
    the id's code.

    The key is cut to its top bits (`cut_bits`; by default all that leave room for the place) and the place put
    in the low bits, so one sort of plain integers (several times faster than grouping the ids themselves)
    lists every key's places together in time order. The key's bits the cut left out then split the rare groups
    whose cut keys met (re-sorted in place), and 32 bits of a second, independent hash check that no group
    holds two ids: None when one does (two ids with equal 64-bit hashes: one chance in 10^19 per pair), and the
    caller codes the ids exactly."""
    n = len(ids)
    bits = max(1, (n - 1).bit_length())
    second = beside(lambda: ids.hash(seed=11).to_numpy().astype(np.uint32)) if not exact else None  # the check's
    if exact:  # dense codes (a null id a code of its own)
        codes = _codes(ids)
        full = codes.fill_null(int(codes.max() or 0) + 1).cast(pl.UInt64).to_numpy()
        width = max(1, int(full.max()).bit_length())
    else:
        full = ids.hash(seed=7).to_numpy() >> np.uint64(64 - hash_bits)
        width = hash_bits
    keep = min(width, 64 - bits, cut_bits or 64)
    dropped = width - keep  # the key's bits the cut leaves out: gathered (32 bits or fewer as 32) to split runs
    rest = (full & np.uint64((1 << dropped) - 1)).astype(np.uint32 if dropped <= 32 else np.uint64) \
        if dropped else None
    packed = np.right_shift(full, np.uint64(dropped), out=full if full.flags.writeable else None)
    np.left_shift(packed, np.uint64(bits), out=packed)
    np.bitwise_or(packed, np.arange(n, dtype=np.uint64), out=packed)
    packed.sort()  # in place, numpy's vectorised sort: about twice as fast as polars' here
    at = (packed & np.uint64((1 << bits) - 1)).view(np.int64)  # places in time, grouped by cut key
    cut = packed >> np.uint64(bits)
    new = np.ones(n, dtype=bool)
    new[1:] = cut[1:] != cut[:-1]
    if rest is not None:
        rest = rest[at]
        met = ~new[1:] & (rest[1:] != rest[:-1])
        if met.any():  # keys that share a cut key: their places in (key, time) order, in the same slots
            slots = np.flatnonzero(np.isin(cut, np.unique(cut[1:][met])))
            fixed = pl.DataFrame({"c": cut[slots], "k": rest[slots], "at": at[slots]}).sort("c", "k", "at")
            at[slots], rest[slots] = fixed["at"].to_numpy(), fixed["k"].to_numpy()
        new[1:] |= rest[1:] != rest[:-1]
    if not exact:  # 32 bits of a second hash: equal within each group
        check = second()[at]
        if ((check[1:] != check[:-1]) & ~new[1:]).any():
            return None
    starts = np.flatnonzero(new)
    lengths = np.diff(np.append(starts, n))
    code_g = np.repeat(np.arange(len(starts), dtype=np.uint32), lengths)
    seq_g = np.arange(n, dtype=np.int64)
    seq_g -= np.repeat(starts, lengths)
    return at, code_g, seq_g


# --- sessions (§1) --------------------------------------------------------------------------------------------

def sessions(t: Any, gap_minutes: int, period: str = "month") -> nw.LazyFrame:
    """One row per session: customer_id, channel (of its first touch), converts, p (period of its start)."""
    t = lazy(t).with_columns(_buy=_is_purchase())
    named = (t.filter(~nw.col("session_id").is_null())
             .with_columns(_first=nw.col("touch_seq").min().over("customer_id", "session_id"),
                           _conv=nw.col("_buy").max().over("customer_id", "session_id"),
                           _start=nw.col("timestamp").min().over("customer_id", "session_id"))
             .filter(nw.col("touch_seq") == nw.col("_first"))
             .select("customer_id", "channel", nw.col("_conv").alias("converts"), nw.col("_start").alias("start")))
    by = ["customer_id", "channel"]
    prev = nw.col("timestamp").shift(1).over(*by, order_by="touch_seq")
    derived = (t.filter(nw.col("session_id").is_null())
               .with_columns(_new=(prev.is_null() | ((nw.col("timestamp") - prev) > timedelta(minutes=gap_minutes)))
                             .cast(nw.Int64))
               .with_columns(_nr=nw.col("_new").cum_sum().over(*by, order_by="touch_seq").cast(nw.Int64))
               .group_by(*by, "_nr")
               .agg(nw.col("_buy").max().alias("converts"), nw.col("timestamp").min().alias("start"))
               .select("customer_id", "channel", "converts", "start"))
    both = nw.concat([named, derived], how="vertical")
    return both.with_columns(p=period_index(nw.col("start"), period))


def customer_codes(frame: pl.DataFrame) -> pl.Series:
    """UInt32 codes of a polars frame's customer ids (equal ids, equal codes — within this frame only): its
    `customer_code` column when it has one (the polars touches do)."""
    if "customer_code" in frame.columns:
        return frame["customer_code"]
    return _codes(frame["customer_id"]).alias("customer_code")


def _first_rows(codes: pl.Series) -> pl.Series:
    """The row numbers (UInt32, ascending) of each code's first row: with a running minimum per code over a
    table indexed by code when the codes are small non-negative integers (a third of the time of
    is_first_distinct on 20 M rows), else is_first_distinct."""
    n = len(codes)
    if n and codes.null_count() == 0 and int(codes.min()) >= 0 and int(codes.max()) < max(4 * n, 1 << 20):
        values = codes.to_numpy()
        first = np.full(int(codes.max()) + 1, n, dtype=np.int64)
        np.minimum.at(first, values, np.arange(n, dtype=np.int64))
        # (the first rows mostly ascend with the codes already: numpy's stable sort, timsort, then merely checks)
        return pl.Series("row", np.sort(first[first < n], kind="stable"), dtype=pl.UInt32)
    return codes.is_first_distinct().arg_true().cast(pl.UInt32).alias("row")


def _pack(columns: list[pl.Series]) -> pl.Series | None:
    """One UInt64 whose order is the lexicographic order of these non-negative integer columns, or None when
    their bits do not fit in 63."""
    bits = [max(1, int(c.max() or 0).bit_length()) for c in columns]
    if sum(bits) > 63:
        return None
    key = columns[0].cast(pl.UInt64)
    for column, b in zip(columns[1:], bits[1:], strict=True):
        key = key * (1 << b) + column.cast(pl.UInt64)
    return key.alias("key")


def _sort_perm(columns: list[pl.Series]) -> pl.Series:
    """The permutation (UInt32 row numbers) that sorts these non-negative integer columns lexicographically,
    ties by row number: when they fit, one sort of UInt64 values that carry the row number in their low bits
    (sorting values is several times faster than an arg-sort)."""
    n = len(columns[0])
    key = _pack([*columns, pl.int_range(n, dtype=pl.UInt64, eager=True)])
    if key is None:
        frame = pl.DataFrame({f"k{i}": c for i, c in enumerate(columns)})
        return frame.select(pl.arg_sort_by(frame.columns).cast(pl.UInt32))["k0"]
    return pl.Series(np.sort(key.to_numpy()) % np.uint64(1 << max(1, (n - 1).bit_length()))).cast(pl.UInt32)


def _pl_sessions(t: pl.DataFrame, gap_minutes: int) -> pl.DataFrame:
    """sessions() for polars touches, on integer keys: channel, converts, start — one row per session."""
    buy = (pl.col("event_type") == "purchase").fill_null(False)
    base = t.select(customer_codes(t), "channel", "session_id", "timestamp", "touch_seq", buy.alias("buy"))
    # eager: polars' default (streaming) engine takes about twice as long on this grouping
    named = (base.filter(pl.col("session_id").is_not_null())
             .group_by("customer_code", "session_id")
             .agg(pl.col("channel").get(pl.col("touch_seq").arg_min()), pl.col("buy").any().alias("converts"),
                  pl.col("timestamp").min().alias("start"))
             .select("channel", "converts", "start"))
    d = base.filter(pl.col("session_id").is_null()).drop("session_id")
    if d.height:
        channel = _codes(d["channel"])
        channel = channel.fill_null(int(channel.max() or 0) + 1)  # a missing channel is a group of its own
        seq = d["touch_seq"] - int(d["touch_seq"].min())
        d = d.with_columns(channel.alias("_ch"))[_sort_perm([d["customer_code"], channel, seq])]
        # in (customer, channel, touch) order a session starts at a new customer or channel, or after a gap
        other = (pl.col("customer_code") != pl.col("customer_code").shift(1)) \
            | (pl.col("_ch") != pl.col("_ch").shift(1))
        gap = (pl.col("timestamp") - pl.col("timestamp").shift(1)) > timedelta(minutes=gap_minutes)
        new = other.fill_null(True) | gap.fill_null(True)
        derived = (d.lazy().with_columns(new.cum_sum().alias("_nr"))
                   .group_by("_nr").agg(pl.col("channel").first(), pl.col("buy").any().alias("converts"),
                                        pl.col("timestamp").first().alias("start"))
                   .select("channel", "converts", "start").collect())
        named = pl.concat([named, derived])
    return named


class KeptPlaces:
    """One view's places in a SessionIndex (`mask`: booleans in touch order, SessionIndex.mask's or view's) and
    the arrays gathered at them, each made on first use, once (thread-safe): the view's per-customer facts, its
    funnel cells and its customer-days read the same customer codes, days and flags — and its facts and
    customer-days the same distinct customer-days — instead of each gathering them from millions of places.
    Made per report (its arrays are a few hundred MB on a million customers; a memo keeps the mask alone)."""

    def __init__(self, index: SessionIndex, mask: np.ndarray) -> None:
        self.index, self.mask = index, mask
        self._made: dict[str, Later] = {}
        self._lock = Lock()

    def _once(self, name: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            later = self._made.setdefault(name, Later(make))
        return later.get()

    def any(self) -> bool:
        return self._once("any", lambda: bool(self.mask.any()))

    def c(self) -> np.ndarray:
        """Each place's customer code."""
        return self._once("c", lambda: self.index.customer_at[self.mask])

    def day(self) -> np.ndarray:
        """Each place's day (days since 1970-01-01)."""
        return self._once("day", lambda: self.index.day_at[self.mask])

    def flags(self) -> np.ndarray:
        """Each place's flags (SessionIndex._flags)."""
        return self._once("flags", lambda: self.index._flags()[self.mask])

    def distinct_days(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct (customer code, day) pairs, in that order (_distinct_days)."""
        return self._once("days", lambda: _distinct_days(self.c(), self.day()))


class SessionIndex:
    """The sessions of every view of one cut's touches, from one sessionising of all of them.

    The touches of the whole cut (polars, with `customer_code` and `touch_seq` numbered 0, 1, … per customer)
    are put in session order — customer, then the session's key (its session_id, or its channel for the
    touches without one), then touch order — and each gets its session's number (a new one at a new key, or
    after more than the gap between two touches without a session_id). A view of the cut (report.prepare's
    channel and segment filters, then a start date) keeps whole (customer, channel) sequences of touches or drops
    their earliest ones, so no two touches become neighbours that were not, and a view's sessions (METRICS.md
    §1, computed on the view alone) are exactly the runs of its touches in this order that share a number: the
    first touch of a run gives its channel and start, and the run converts when one of its touches is a
    purchase. A view is found among the cut's touches by (customer_code, touch_seq), which name one touch.
    """

    HASH_BITS = 62  # at most this many bits of a session id's hash (a test makes them few, to see the check)

    def __init__(self, t: pl.DataFrame, gap_minutes: int, rows: np.ndarray | None = None) -> None:
        """`rows`: the rows of `t` in (customer_code, touch_seq) order when known (pl_customer_seq gives them)."""
        n = self.size = t.height
        # the session ids' hashes beside the customers' arrays, then the packing beside the sort
        sid = beside(lambda: (rows := t["session_id"].is_not_null().arg_true().to_numpy(),
                              t["session_id"].gather(rows).hash(seed=7).to_numpy()))
        # read in place where the dtypes allow (a million customers: each copy of a column is 150 MB)
        code = t["customer_code"].to_numpy()
        seq = t["touch_seq"].to_numpy()
        counts = np.bincount(code) if n else np.zeros(0, dtype=np.int64)
        self.offset = np.cumsum(counts) - counts  # a customer's first place in touch order
        channel, lookup = channel_codes(t)
        missing = int(lookup["code"].max()) + 1 if lookup.height else 0  # a missing channel: a code of its own
        channel = channel.fill_null(missing).to_numpy()
        self.channels = _names(lookup, missing + 1)
        if rows is None:
            row_at = np.empty(n, dtype=np.int64)
            row_at[self.offset[code] + seq] = np.arange(n)  # the row at each place in (customer, touch_seq) order
        else:
            row_at = rows.astype(np.int64, copy=False)
        code_s = np.repeat(np.arange(len(counts), dtype=np.uint32 if n < 2**32 else np.int64), counts)  # in code order
        # the timestamp, channel and purchase flag of each touch, to take in session order
        at_rows = beside(lambda: _packed(t["timestamp"].dt.cast_time_unit("us").cast(pl.Int64).to_numpy(), channel,
                                         (t["event_type"] == "purchase").fill_null(False).to_numpy(),
                                         max(1, missing.bit_length())))
        self.order, key, (ts, channel, buy) = self._session_order(t, row_at, code, seq, channel, missing + 1, counts,
                                                                  code_s, sid, lambda rows: at_rows()(rows))
        # what another session gap leaves alone (with_gap): a new session at a new customer or key; and the
        # pause (µs) before each touch without a session_id within one (0 elsewhere)
        self._split = (code_s[1:] != code_s[:-1]) | (key[1:] != key[:-1])
        self._pause = np.where((key[1:] <= missing) & ~self._split, np.diff(ts), 0)
        # kept for every view: compact, a few bytes per touch
        self.order = self.order.astype(np.uint32 if n < 2**32 else np.int64)
        self.session = self._sessions(gap_minutes)
        self.channel = channel.astype(np.uint16 if len(self.channels) < 2**16 else np.int64)
        self.day = (ts // 86_400_000_000).astype(np.int32)
        self.buy = buy
        # in touch order (by place): each touch's customer and day, for a view's distinct customer-days
        self.customer_at = code_s
        self.day_at = np.empty(n, dtype=np.int32)
        self.day_at[self.order] = self.day
        self.touches, self.row_at = t, row_at.astype(np.uint32 if n < 2**32 else np.int64)
        self._flags_at: np.ndarray | None = None  # channel code, stage and purchase flag by place (_flags)
        self._known: pl.DataFrame | None = None  # each customer code's id (_ids)
        self.stages_known = True
        self.stages = 1  # the cut's stage ranks are below this (set by _flags)
        self._one_channel: bool | None = None
        self._by_id: np.ndarray | None = None  # by_id

    def _sessions(self, gap_minutes: int) -> np.ndarray:
        """Each place's session number (session order) under a gap: a new one at a new customer or key, or after
        more than the gap between two touches without a session_id."""
        new = np.ones(self.size, dtype=bool)
        new[1:] = self._split | (self._pause > gap_minutes * 60_000_000)
        return np.cumsum(new, dtype=np.uint32 if self.size < 2**32 else np.int64)

    def with_gap(self, gap_minutes: int) -> SessionIndex:
        """This index under another session gap: only the session numbers differ (a tenth of a second on a
        million customers, where sessionising again takes seconds); every other array is shared."""
        other = copy.copy(self)
        other.session = self._sessions(gap_minutes)
        other._one_channel = None
        return other

    def _session_order(self, t: pl.DataFrame, row_at: np.ndarray, code: np.ndarray, seq: np.ndarray,
                       channel: np.ndarray, n_channels: int, counts: np.ndarray,
                       code_s: np.ndarray, sid: Callable[[], tuple[np.ndarray, np.ndarray]],
                       take: Callable[[np.ndarray], T]) -> tuple[np.ndarray, np.ndarray, T]:
        """The touches' places (in touch order) listed in session order, with each one's session key, and what
        `take` makes of their rows (run beside the check of the hashes; `sid` gives the rows with a session id
        and the id's 64-bit hash).

        A touch without a session_id has its channel code as key; one with a session_id a number above the
        channel codes. (customer, key, touch_seq) packed into one integer sort in session order and unpack into
        place and key. Coding millions of session ids exactly costs a hundred times hashing them, so the key is
        first a hash of the id cut to the bits left over, checked after the sort: when two ids of one customer
        share a cut hash (the low 32 bits of their 64-bit hashes differ), the ids are coded exactly instead. Only
        two ids whose hashes agree in the cut's bits and the low 32 (one chance in 10^18 per pair) would count as
        one session."""
        n = len(code)
        if not n:
            return code, channel, take(code)
        rows, full = sid()
        code_bits, seq_bits = max(1, int(code.max()).bit_length()), max(1, int(seq.max()).bit_length())
        free = 63 - code_bits - seq_bits - 1  # the key: a cut hash, plus one bit for the channel codes below it
        first_place = np.repeat(self.offset, counts)  # in session order, each place's customer's first place
        for exact in (False, True):
            if not exact and free < 24:  # too few bits for the ids of one customer to differ
                continue
            free = min(free, self.HASH_BITS)
            sid = full >> np.uint64(64 - free) if not exact else \
                _codes(t["session_id"].gather(rows)).cast(pl.UInt64).to_numpy()
            key = channel.astype(np.uint64)
            key[rows] = sid + np.uint64(n_channels)
            key_bits = max(1, int(key.max()).bit_length())
            if code_bits + key_bits + seq_bits <= 63:
                packed = (code.astype(np.uint64) << np.uint64(key_bits + seq_bits)) \
                    | (key << np.uint64(seq_bits)) | seq.astype(np.uint64)
                packed.sort()  # in place, numpy's vectorised sort: about twice as fast as polars' here
                key_s = (packed >> np.uint64(seq_bits)) & np.uint64((1 << key_bits) - 1)
                order = first_place + (packed & np.uint64((1 << seq_bits) - 1)).astype(np.int64)
            else:
                perm = pl.DataFrame({"c": code, "k": key, "s": seq}).select(
                    pl.arg_sort_by("c", "k", "s").alias("p"))["p"].to_numpy()
                key_s, order = key[perm], self.offset[code[perm]] + seq[perm]
            rows_s = row_at[order]
            taken = beside(lambda r=rows_s: take(r))
            if exact:
                return order, key_s, taken()
            by_row = np.zeros(n, dtype=np.uint32)  # the hash's low 32 bits: with the cut's, 62 bits or more
            by_row[rows] = full.astype(np.uint32)
            h = by_row[rows_s]
            same = (code_s[1:] == code_s[:-1]) & (key_s[1:] == key_s[:-1]) & (key_s[1:] >= n_channels)
            if not (same & (h[1:] != h[:-1])).any():
                return order, key_s, taken()
        raise AssertionError("unreachable")

    def view(self, view: pl.DataFrame) -> np.ndarray:
        """Which places (touch order) a view of the cut keeps (touches of the cut with their customer_code and
        touch_seq)."""
        if view.height == self.size:  # the whole cut
            return np.ones(self.size, dtype=bool)
        kept = np.zeros(self.size, dtype=bool)
        kept[self.offset[view["customer_code"].to_numpy()] + view["touch_seq"].to_numpy()] = True
        return kept

    def mask(self, channels: Collection[str] = (), customers: np.ndarray | None = None,
             start_day: int | None = None, until: datetime | None = None) -> np.ndarray:
        """The places (touch order) of the view that keeps the touches in `channels` (all when empty), of the
        `customers` (chosen's booleans; all when None), on or after `start_day` (days since 1970-01-01; all
        when None) and at or before `until` (all when None): report.prepare's filters, a start date and an
        earlier as_of, without filtering the touches themselves."""
        kept = np.ones(self.size, dtype=bool) if until is None else self._until(until)
        if channels:
            wanted = np.array([name is not None and name in channels for name in self.channels])
            kept &= wanted[self._flags() >> np.uint32(4)]
        if customers is not None:
            kept &= customers[self.customer_at]
        if start_day is not None:
            kept &= self.day_at >= start_day
        return kept

    def _until(self, as_of: datetime) -> np.ndarray:
        """The places at or before `as_of`. Dropping every customer's touches after a moment keeps a prefix of
        each (customer, key) run in session order, so the sessions of the earlier cut are runs of these places
        too (a session cut short keeps its first touch). Whole days are compared by day; only the touches of
        as_of's own day are compared by their timestamps."""
        moment = (as_of - datetime(1970, 1, 1)) // timedelta(microseconds=1)
        day = moment // 86_400_000_000
        kept = self.day_at < day
        edge = np.flatnonzero(self.day_at == day)
        if edge.size:
            ts = self.touches["timestamp"].dt.cast_time_unit("us").cast(pl.Int64)
            kept[edge] = ts.gather(self.row_at[edge]).to_numpy() <= moment
        return kept

    def chosen(self, customers: pl.Series) -> np.ndarray:
        """A boolean per customer code of the cut: whether its id is among `customers`."""
        chosen = np.zeros(len(self.offset), dtype=bool)
        chosen[_lookup_codes(customers, self._ids()).drop_nulls().to_numpy()] = True
        return chosen

    def by_id(self) -> np.ndarray:
        """The customer codes in customer_id order (polars' order of the text; built on first use): the
        per-customer facts come out in the per-customer table's order without sorting ids again."""
        if self._by_id is None:
            ids = self._ids()
            self._by_id = ids["code"].to_numpy()[ids["customer_id"].arg_sort().to_numpy()]
        return self._by_id

    def _ids(self) -> pl.DataFrame:
        """code, customer_id: each customer code of the cut with its id (built on first use)."""
        if self._known is None:
            self._known = _touch_ids(self.touches)
        return self._known

    def _flags(self) -> np.ndarray:
        """By place: channel code << 4 | stage rank << 1 | purchase flag (built on first use; a stage rank that
        is missing or above 7 makes the stage bits 0 and `stages_known` False)."""
        if self._flags_at is None:
            t = self.touches
            channel, _ = channel_codes(t)
            stage = t["stage_rank"] if "stage_rank" in t.columns else pl.Series([None] * t.height, dtype=pl.Int8)
            self.stages_known = not stage.null_count() and (stage.is_empty() or (int(stage.min()) >= 0
                                                                                 and int(stage.max()) < 8))
            self.stages = int(stage.max()) + 1 if self.stages_known and not stage.is_empty() else 1
            stage = stage.to_numpy().astype(np.uint32) if self.stages_known else np.uint32(0)
            flags = (channel.fill_null(len(self.channels) - 1).to_numpy().astype(np.uint32) << np.uint32(4)) \
                | (stage << np.uint32(1)) | (t["event_type"] == "purchase").fill_null(False).to_numpy()
            self._flags_at = flags[self.row_at]
        return self._flags_at

    def kept(self, kept: np.ndarray | KeptPlaces) -> KeptPlaces:
        """A view's places (`view`'s or `mask`'s booleans) with the arrays its figures share (KeptPlaces)."""
        return kept if isinstance(kept, KeptPlaces) else KeptPlaces(self, kept)

    def places(self, kept: np.ndarray | KeptPlaces) -> TouchPlaces:
        """A view's touches (`view`'s or `mask`'s places, or their KeptPlaces) in (customer, touch_seq) order,
        for its per-customer facts."""
        k = self.kept(kept)
        flags = k.flags()
        return TouchPlaces(k.c(), k.day(),
                           (flags >> np.uint32(4)).astype(np.uint16 if len(self.channels) < 2**16 else np.int64),
                           (flags & np.uint32(1)).astype(bool), self.row_at[k.mask], self.touches, self.by_id(),
                           k.distinct_days)

    def journey_steps(self, kept: np.ndarray | KeptPlaces) -> pl.DataFrame:
        """customer_code, steps: the journey of each customer of a view's places (`view`'s or `mask`'s, or their
        KeptPlaces; _journey_steps), from their customer codes and channels alone (`places` gathers their days,
        rows and purchase flags too)."""
        k = self.kept(kept)
        return _journey_steps(k.c(), k.flags() >> np.uint32(4), self.touches["channel_code"].dtype.categories)

    def stage_cells(self, kept: np.ndarray | KeptPlaces) -> tuple[np.ndarray, np.ndarray] | None:
        """A view's (`view`'s or `mask`'s places, or their KeptPlaces) best funnel stage (-1: none) and whether
        they bought, per customer code × channel code: what window_tables counts, for this view and any narrower
        by channels or customers (window_tables). None when a stage rank is not known or the tables would be too
        large."""
        k = self.kept(kept)
        flags = k.flags()
        customers, n = len(self.offset), len(self.channels)
        if not self.stages_known or not _cells_fit(customers, n, self.stages):
            return None
        # _stage_cells' (customer, channel, stage) cell as one number: the flags' channel and stage bits are
        # channel × 8 + stage already (in place, in 32 bits where they fit: fewer and smaller arrays)
        kind = np.uint32 if customers * n * 8 < 2**32 else np.uint64
        at = k.c().astype(kind)
        at *= kind(n * 8)
        at += (flags >> np.uint32(1)).astype(kind, copy=False)
        return _cells_reached(at, at[(flags & np.uint32(1)).astype(bool)] >> kind(3), customers, n, self.stages)

    def window_tables(self, cells: tuple[np.ndarray, np.ndarray], orders: pl.DataFrame | None,
                      channels: Collection[str] = (), customers: np.ndarray | None = None) -> dict[str, Any] | None:
        """window_tables of a view from its `cells` (stage_cells), narrowed to the touches in `channels` (all
        when empty) of the `customers` (chosen's booleans; all when None), with that view's orders."""
        best, bought = cells
        columns = np.array([c for c, name in enumerate(self.channels) if not channels or name in channels],
                           dtype=np.int64)
        if len(columns) < len(self.channels):
            best, bought = best[:, columns], bought[:, columns]
        if customers is not None:
            best, bought = np.where(customers[:, None], best, -1), bought & customers[:, None]
        return _window_figures(best, bought, [self.channels[c] for c in columns], orders)

    def sessions_in_one_channel(self) -> bool:
        """Whether every session of the cut has touches of one channel only: then a channel filter keeps or
        drops whole sessions, and its sessions per channel are those of the view without it (built on first
        use)."""
        if self._one_channel is None:
            self._one_channel = bool(np.all((self.session[1:] != self.session[:-1])
                                            | (self.channel[1:] == self.channel[:-1])))
        return self._one_channel

    def customer_days(self, kept: np.ndarray | KeptPlaces) -> pl.DataFrame:
        """touch_days of a view (`view`'s or `mask`'s places, or their KeptPlaces)."""
        c, day = self.kept(kept).distinct_days()
        return pl.DataFrame({"c": c, "day": day.astype(np.int64)}, schema={"c": pl.UInt32, "day": pl.Int64})

    def days(self, view: pl.DataFrame | np.ndarray | KeptPlaces) -> pl.DataFrame:
        """session_days of a view of the cut (its touches, or `view`'s or `mask`'s places, or their
        KeptPlaces)."""
        kept = self.view(view) if isinstance(view, pl.DataFrame) else view.mask if isinstance(view, KeptPlaces) \
            else view
        kept = kept[self.order]
        at = np.flatnonzero(kept)  # the kept places in session order
        session = self.session[at]
        if not len(session):
            return pl.DataFrame(schema={"channel": pl.String, "day": pl.Int64, "sessions": pl.Int64,
                                        "converting_sessions": pl.Int64})
        first = at[_runs(session)]  # each kept session's first kept touch
        # a session converts when one of its kept touches is a purchase: mark the sessions of the purchases
        # (a few of the touches) instead of reducing every session
        bought = np.zeros(int(self.session[-1]) + 1, dtype=bool)
        bought[self.session[kept & self.buy]] = True
        converts = bought[self.session[first]]
        day = self.day[first]
        low, days = int(day.min()), int(day.max()) - int(day.min()) + 1
        cell = self.channel[first].astype(np.int64)  # (channel, day) as one number, worked out in place
        cell *= days
        cell += day
        cell -= low
        sessions = np.bincount(cell, minlength=len(self.channels) * days)
        converting = np.bincount(cell[converts], minlength=len(self.channels) * days)
        present = np.flatnonzero(sessions)
        channel = pl.Series("channel", self.channels, dtype=pl.String)
        return pl.DataFrame({"channel": channel.gather(present // days), "day": present % days + low,
                             "sessions": sessions[present], "converting_sessions": converting[present]},
                            schema={"channel": pl.String, "day": pl.Int64, "sessions": pl.Int64,
                                    "converting_sessions": pl.Int64})


def session_days(t: Any, gap_minutes: int) -> pl.DataFrame:
    """Sessions and converting sessions per (channel, day of the session's first touch; days since 1970-01-01):
    the one pass over the sessions that the per-channel table and the trend of any period sum up (a day lies in
    one week, month and quarter), so a change of period does not sessionise again."""
    if isinstance(t, pl.DataFrame):
        s = _pl_sessions(t, gap_minutes).select(
            "channel", "converts", pl.col("start").dt.date().cast(pl.Int64).alias("day"))
    else:
        s = collect(sessions(t, gap_minutes).select("channel", "converts", day_number(nw.col("start")).alias("day")))
    return s.group_by("channel", "day").agg(pl.len().cast(pl.Int64).alias("sessions"),
                                            pl.col("converts").cast(pl.Int64).sum().alias("converting_sessions"))


def session_counts(t: Any, gap_minutes: int, period: str = "month",
                   days: pl.DataFrame | None = None) -> pl.DataFrame:
    """Sessions and converting sessions per (channel, p), from `days` (session_days of the same touches) when
    given."""
    if days is None:
        days = session_days(t, gap_minutes)
    p = pl_period_index(pl.col("day").cast(pl.Int32).cast(pl.Date), period).alias("p")
    return days.group_by("channel", p).agg(pl.col("sessions").sum(), pl.col("converting_sessions").sum())


def channel_conversion(t: Any, gap_minutes: int, counts: pl.DataFrame | None = None,
                       people: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per channel: sessions, converting_sessions (§1), visitors, buyers (§2). `counts` (session_counts of
    the same touches) saves sessionising twice, `people` (window_tables' visitors) counting customers."""
    if counts is None:
        counts = session_counts(t, gap_minutes)
    s = counts.group_by("channel").agg(pl.col("sessions").sum(), pl.col("converting_sessions").sum())
    if people is not None:
        return people.join(s, on="channel", how="full", coalesce=True)
    if isinstance(t, pl.DataFrame):
        buy = (pl.col("event_type") == "purchase").fill_null(False)
        out = t.select("channel", customer_codes(t), buy.alias("buy")).group_by("channel").agg(
            pl.col("customer_code").n_unique().cast(pl.Int64).alias("visitors"),
            pl.col("customer_code").filter("buy").n_unique().cast(pl.Int64).alias("buyers"))
        return out.join(s, on="channel", how="full", coalesce=True)
    lt = lazy(t)
    people = lt.group_by("channel").agg(nw.col("customer_id").n_unique().cast(nw.Int64).alias("visitors"))
    buyers = lt.filter(_is_purchase()).group_by("channel").agg(
        nw.col("customer_id").n_unique().cast(nw.Int64).alias("buyers"))
    out = collect(people).join(collect(buyers), on="channel", how="left") \
        .with_columns(pl.col("buyers").fill_null(0))
    return out.join(s, on="channel", how="full", coalesce=True)


def session_periods(days: pl.DataFrame, period: str) -> pl.DataFrame:
    """Sessions and converting sessions per period of the session's first touch (the trend), from
    session_days."""
    return days.group_by(_day_period(period)).agg(pl.col("sessions").sum(), pl.col("converting_sessions").sum())


# --- per channel / per period counts ---------------------------------------------------------------------------

def window_counts(t: Any, orders: Any | None) -> dict[str, int]:
    """customers (touches or orders), visitors and buyers of the window."""
    if isinstance(t, pl.DataFrame) and (orders is None or isinstance(orders, pl.DataFrame)):
        code = customer_codes(t)
        buy = (t["event_type"] == "purchase").fill_null(False)
        ids = [t["customer_id"].gather(_first_rows(code))]  # each touch customer's id once
        if orders is not None:
            ids.append(orders["customer_id"])
        return {"customers": int(pl.concat(ids).n_unique()),
                "visitors": int(code.n_unique()), "buyers": int(code.filter(buy).n_unique())}
    lt = lazy(t)
    ids = [lt.select("customer_id")] + ([lazy(orders).select("customer_id")] if orders is not None else [])
    union = nw.concat(ids, how="vertical") if len(ids) > 1 else ids[0]
    customers = collect(union.select(nw.col("customer_id").n_unique())).item()
    visitors = collect(lt.select(nw.col("customer_id").n_unique())).item()
    buyers = collect(lt.filter(_is_purchase()).select(nw.col("customer_id").n_unique())).item()
    return {"customers": int(customers), "visitors": int(visitors), "buyers": int(buyers)}


def window_tables(t: pl.DataFrame, orders: pl.DataFrame | None) -> dict[str, Any] | None:
    """For polars touches, in one pass over integer codes: visitors and buyers per channel (`people`, as
    channel_conversion counts them), the window counts (window_counts') and customers per best funnel stage
    (funnel_best's). Tables indexed by customer code × channel (× stage) stand in for hashing: each touch sets
    a cell. None when those tables would be too large or a code is missing (then the functions named)."""
    code = customer_codes(t)
    if t.is_empty() or code.null_count() or t["stage_rank"].null_count():
        return None
    channel, lookup = channel_codes(t)
    k = (int(lookup["code"].max()) + 1 if lookup.height else 0) + 1  # the last column: a missing channel
    cells = _stage_cells(code.to_numpy(), channel.fill_null(k - 1).to_numpy(), t["stage_rank"].to_numpy(),
                         (t["event_type"] == "purchase").fill_null(False).to_numpy(), k, int(code.max()) + 1)
    return _window_figures(*cells, _names(lookup, k), orders) if cells is not None else None


def _stage_cells(code: np.ndarray, channel: np.ndarray, stage: np.ndarray, buy: np.ndarray, k: int,
                 customers: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Touches' best funnel stage (-1: no touch) and whether they bought, per customer code (below
    `customers`) × channel code (below k), from their codes, stage ranks and purchase flags: each touch sets a
    cell of a customer × channel × stage table. None when the table would be too large."""
    stages = int(stage.max()) + 1 if len(stage) else 1
    if not _cells_fit(customers, k, stages):
        return None
    cell = code.astype(np.int64) * k + channel
    if stages <= 8:
        return _cells_reached(cell * 8 + stage, cell[buy], customers, k, stages)
    seen = np.zeros(customers * k * stages, dtype=bool)  # (customer, channel, stage) reached
    seen[cell * stages + stage] = True
    seen = seen.reshape(customers, k, stages)
    best = np.where(seen.any(axis=2), stages - 1 - np.argmax(seen[:, :, ::-1], axis=2), -1).astype(np.int8)
    bought = np.zeros(customers * k, dtype=bool)
    bought[cell[buy]] = True
    return best, bought.reshape(customers, k)


def _cells_fit(customers: int, k: int, stages: int) -> bool:
    """Whether _stage_cells' customer × channel × stage table is small enough to make."""
    return customers * k * stages <= 4 * _PAIR_TABLE_CELLS


def _cells_reached(reached: np.ndarray, bought: np.ndarray, customers: int, k: int,
                   stages: int) -> tuple[np.ndarray, np.ndarray]:
    """_stage_cells' tables from the (customer × k + channel) × 8 + stage cells that touches reached (at most 8
    stages) and the customer × k + channel cells of the purchases. A cell's stages reached are the bytes of one
    little-endian integer (byte i: stage i): its best stage is how many of 256, 256², … it reaches — a few
    comparisons instead of reducing a short axis per cell."""
    seen = np.zeros(customers * k * 8, dtype=bool)
    seen[reached] = True
    packed = seen.view("<u8").reshape(customers, k)
    level = np.zeros(packed.shape, dtype=np.int8)
    for i in range(1, stages):
        level += packed >= np.uint64(1 << (8 * i))
    cells = np.zeros(customers * k, dtype=bool)
    cells[bought] = True
    return np.where(packed != 0, level, np.int8(-1)), cells.reshape(customers, k)


def _window_figures(best: np.ndarray, bought: np.ndarray, names: list[str | None],
                    orders: pl.DataFrame | None) -> dict[str, Any] | None:
    """window_tables from _stage_cells' tables (`names`: each column's channel) and the view's orders (None
    when their customers are not coded)."""
    per_column, overall = _best_counts(best)  # a channel's visitors: the sum of its counts
    visitor = overall >= 0
    used = [c for c, counts in enumerate(per_column) if counts.sum()]
    people = pl.DataFrame({"channel": [names[c] for c in used], "visitors": [int(per_column[c].sum()) for c in used],
                           "buyers": bought[:, used].sum(axis=0) if used else []},
                          schema={"channel": pl.String, "visitors": pl.Int64, "buyers": pl.Int64})
    anyone = visitor
    if orders is not None and orders.height:
        if "customer_code" not in orders.columns or orders["customer_code"].null_count():
            return None
        order_codes = orders["customer_code"].to_numpy()
        anyone = np.zeros(max(len(visitor), int(order_codes.max()) + 1), dtype=bool)
        anyone[:len(visitor)] = visitor
        anyone[order_codes] = True
    counts = {"customers": int(anyone.sum()), "visitors": int(visitor.sum()),
              "buyers": int(bought.any(axis=1).sum())}
    return {"people": people, "counts": counts, "funnel": _funnel_frame(per_column, overall, names)}


def _day_period(period: str) -> pl.Expr:
    """The period index of a `day` column (days since 1970-01-01)."""
    return pl_period_index(pl.col("day").cast(pl.Int32).cast(pl.Date), period).alias("p")


def day_periods(day: pl.Series, period: str) -> pl.Series:
    """The period index (`p`) of each day of a column of days since 1970-01-01: worked out once per distinct
    day in their range and looked up (millions of rows span a few hundred days)."""
    if day.is_empty() or day.null_count():
        return day.to_frame("day").select(_day_period(period))["p"]
    low, high = int(day.min()), int(day.max())
    table = pl.DataFrame({"day": pl.int_range(low, high + 1, eager=True)}).select(_day_period(period))["p"]
    return pl.Series("p", table.to_numpy()[day.to_numpy() - low], dtype=table.dtype)


def touch_days(t: pl.DataFrame) -> pl.DataFrame:
    """The distinct (customer code `c`, `day`) of polars touches: the customers with a touch per period, for
    any period, count from it (touch_periods)."""
    if t.is_empty():
        return pl.DataFrame(schema={"c": pl.UInt32, "day": pl.Int64})
    day = t["timestamp"].dt.date().cast(pl.Int64)
    low = int(day.min())
    pairs = _distinct_pairs(customer_codes(t).cast(pl.UInt32), day - low)
    return pairs.select(pl.col("a").alias("c"), (pl.col("b") + low).alias("day"))


def order_days(orders: pl.DataFrame) -> pl.DataFrame:
    """Completed orders and revenue per (customer code `c`, `day`) of polars orders, in (c, day) order: what
    order_periods sums up for any period."""
    code = orders["customer_code"] if "customer_code" in orders.columns else _codes(orders["customer_id"])
    day = orders["timestamp"].dt.date().cast(pl.Int64)
    if orders.is_empty() or code.null_count() or day.null_count():
        return orders.group_by(code.alias("c"), day.alias("day")).agg(
            pl.len().cast(pl.Int64).alias("orders"), pl.col("revenue").sum()).sort("c", "day")
    # (customer, day) as one sortable integer: a sort and a pass over the runs instead of a grouping
    low, width = int(day.min()), max(1, (int(day.max()) - int(day.min())).bit_length())
    key = (code.cast(pl.UInt64) * (1 << width) + (day - low).cast(pl.UInt64)).alias("k")
    by_key = pl.DataFrame({"k": key, "revenue": orders["revenue"].fill_null(0.0)})
    k = by_key["k"].to_numpy()
    if not np.all(k[1:] >= k[:-1]):  # the cut's orders are in (customer, time) order already
        by_key = by_key.sort("k")
        k = by_key["k"].to_numpy()
    starts = _runs(k)
    first = k[starts]
    return pl.DataFrame({"c": (first >> np.uint64(width)).astype(np.uint32),
                         "day": (first & np.uint64((1 << width) - 1)).astype(np.int64) + low,
                         "orders": np.diff(np.append(starts, len(k))).astype(np.int64),
                         "revenue": np.add.reduceat(by_key["revenue"].to_numpy(), starts)},
                        schema={"c": code.dtype, "day": pl.Int64, "orders": pl.Int64, "revenue": pl.Float64})


def customer_periods(days: pl.DataFrame, period: str) -> tuple[pl.Series, pl.Series]:
    """(p, the places where a (customer, period) starts) of a table in (c, day) order: a customer's days of
    one period are neighbours, so each (customer, period) is a run — no grouping needed."""
    p = day_periods(days["day"], period)
    c, pn = days["c"].to_numpy(), p.to_numpy()
    starts = np.flatnonzero(np.r_[True, (c[1:] != c[:-1]) | (pn[1:] != pn[:-1])]) if len(c) else []
    return p, pl.Series("starts", starts, dtype=pl.UInt32)


def touch_periods(t: Any, period: str, days: pl.DataFrame | None = None) -> pl.DataFrame:
    """Customers with a touch per period (p, customers); from `days` (touch_days of the same touches, in
    (c, day) order) when given."""
    if days is not None:
        p, starts = customer_periods(days, period)
        return p.gather(starts).to_frame().group_by("p").agg(pl.len().cast(pl.Int64).alias("customers"))
    if isinstance(t, pl.DataFrame):
        return touch_periods(t, period, touch_days(t))
    return collect(lazy(t).group_by(period_index(nw.col("timestamp"), period).alias("p")).agg(
        nw.col("customer_id").n_unique().cast(nw.Int64).alias("customers")))


def order_periods(orders: Any, period: str, days: pl.DataFrame | None = None) -> pl.DataFrame:
    """Buyers, orders and revenue per period (p, buyers, orders, revenue); from `days` (order_days of the same
    orders) when given."""
    if days is not None:
        p, starts = customer_periods(days, period)
        buyers = p.gather(starts).to_frame().group_by("p").agg(pl.len().cast(pl.Int64).alias("buyers"))
        sums = days.group_by(p).agg(pl.col("orders").sum(), pl.col("revenue").sum())
        return buyers.join(sums, on="p")
    return collect(lazy(orders).group_by(period_index(nw.col("timestamp"), period).alias("p")).agg(
        nw.col("customer_id").n_unique().cast(nw.Int64).alias("buyers"), nw.len().cast(nw.Int64).alias("orders"),
        nw.col("revenue").sum()))


def order_channels(orders: Any) -> pl.DataFrame:
    return collect(lazy(orders).group_by("channel").agg(nw.len().cast(nw.Int64).alias("orders"),
                                                         nw.col("revenue").sum()))


def _pl_funnel_table(t: pl.DataFrame) -> pl.DataFrame | None:
    """funnel_best for polars touches through a customers × channels table of best stages (a running maximum,
    one pass), or None when that table would be too large or a customer code or stage is missing."""
    code = customer_codes(t)
    if t.is_empty() or code.null_count() or t["stage_rank"].null_count():
        return None
    channel, lookup = channel_codes(t)
    missing = int(lookup["code"].max()) + 1 if lookup.height else 0  # a null channel: a column of its own
    customers, columns = int(code.max()) + 1, missing + 1
    if customers * columns > _PAIR_TABLE_CELLS:
        return None
    best = np.full((customers, columns), -1, dtype=np.int16)
    np.maximum.at(best, (code.to_numpy(), channel.fill_null(missing).to_numpy()),
                  t["stage_rank"].cast(pl.Int16).to_numpy())
    return _funnel_frame(*_best_counts(best), _names(lookup, columns))


def _names(lookup: pl.DataFrame, size: int) -> list[str | None]:
    """The values of a code → value lookup (_coded's) as a list by code, `size` long (None where no value)."""
    names: list[str | None] = [None] * size
    for code, value in zip(lookup["code"].to_list(), lookup["value"].to_list(), strict=True):
        names[code] = value
    return names


def _best_counts(best: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """From a customers × channels table of best stages (-1: no touch there): the customers per best stage of
    each channel, and each customer's best stage over all channels (-1: none)."""
    per_column = [np.bincount(column[column >= 0]) for column in best.T]
    overall = best.max(axis=1) if best.shape[1] else np.full(len(best), -1, dtype=best.dtype)
    return per_column, overall


def _funnel_frame(per_column: list[np.ndarray], overall: np.ndarray, names: list[str | None]) -> pl.DataFrame:
    """funnel_best's frame from _best_counts; `names` the channel of each column (None: the missing channel)."""
    rows = [(names[c], stage, int(n)) for c, counts in enumerate(per_column) for stage, n in enumerate(counts) if n]
    rows += [(None, stage, int(n)) for stage, n in enumerate(np.bincount(overall[overall >= 0])) if n]
    return pl.DataFrame(rows, schema={"channel": pl.String, "stage_rank": pl.Int8, "customers": pl.Int64},
                        orient="row")


def funnel_best(t: Any) -> pl.DataFrame:
    """Customers per best stage reached, per channel and overall (channel null): channel, stage_rank, customers."""
    if isinstance(t, pl.DataFrame):
        if (by_table := _pl_funnel_table(t)) is not None:
            return by_table
        narrow = t.select(customer_codes(t), "channel", "stage_rank")
        best = narrow.group_by("customer_code", "channel").agg(pl.col("stage_rank").max())
        a = best.group_by("channel", "stage_rank").agg(pl.len().cast(pl.Int64).alias("customers"))
        # a customer's best stage overall is the best of their per-channel bests
        b = best.group_by("customer_code").agg(pl.col("stage_rank").max()).group_by("stage_rank").agg(
            pl.len().cast(pl.Int64).alias("customers"))
        return pl.concat([a.with_columns(pl.col("stage_rank").cast(pl.Int8)),
                          b.select(pl.lit(None, pl.String).alias("channel"), pl.col("stage_rank").cast(pl.Int8),
                                   "customers")])
    lt = lazy(t)
    per_channel = lt.group_by("customer_id", "channel").agg(nw.col("stage_rank").max()) \
        .group_by("channel", "stage_rank").agg(nw.len().cast(nw.Int64).alias("customers"))
    overall = lt.group_by("customer_id").agg(nw.col("stage_rank").max()) \
        .group_by("stage_rank").agg(nw.len().cast(nw.Int64).alias("customers"))
    a = collect(per_channel).with_columns(pl.col("stage_rank").cast(pl.Int8))
    b = collect(overall).select(pl.lit(None, pl.String).alias("channel"), pl.col("stage_rank").cast(pl.Int8),
                                "customers")
    return pl.concat([a, b])


# --- per customer ----------------------------------------------------------------------------------------------

@dataclass
class CustomerRollups:
    facts: pl.DataFrame  # one row per customer (see customer_facts)
    activity: pl.DataFrame | None  # customer_id, p, revenue: completed orders per customer and period


def _touch_facts(t_all: Any, orders_all: Any | None, as_of_day: int) -> pl.DataFrame:
    """The touch side of customer_facts on narwhals: customer_id, n_channels, days_silent, active_days,
    own_gap, last_touch_channel, last_touch_event, steps, converted."""
    lt = lazy(t_all)
    ids = [lt.select("customer_id", "channel", nw.col("timestamp"))]
    if orders_all is not None:
        lo = lazy(orders_all)
        ids.append(lo.select("customer_id", "channel", nw.col("timestamp")))
    union = nw.concat(ids, how="vertical") if len(ids) > 1 else ids[0]
    # n_channels over touches and orders; silence over the distinct active days
    per = collect(union.group_by("customer_id").agg(nw.col("channel").n_unique().cast(nw.Int64)
                                                    .alias("n_channels")))
    days = union.select("customer_id", day_number(nw.col("timestamp")).alias("day")).unique()
    gap = nw.col("day") - nw.col("day").shift(1).over("customer_id", order_by="day")
    silence = collect(days.with_columns(_gap=gap.cast(nw.Float64)).group_by("customer_id").agg(
        (as_of_day - nw.col("day").max()).cast(nw.Int64).alias("days_silent"),
        nw.len().cast(nw.Int64).alias("active_days"), nw.col("_gap").median().alias("own_gap")))
    # last touch (the highest touch_seq) and the journey: channels in touch order, repeats collapsed
    last = collect(lt.filter(nw.col("touch_seq") == nw.col("touch_seq").max().over("customer_id"))
                   .select("customer_id", nw.col("channel").alias("last_touch_channel"),
                           nw.col("event_type").alias("last_touch_event")))
    prev = nw.col("channel").shift(1).over("customer_id", order_by="touch_seq")
    steps = collect(lt.filter(prev.is_null() | (nw.col("channel") != prev)).select("customer_id", "touch_seq",
                                                                                     "channel"))
    steps = steps.sort("customer_id", "touch_seq").group_by("customer_id", maintain_order=True).agg(
        pl.col("channel").alias("steps"))
    bought = collect(lt.filter(_is_purchase()).select("customer_id").unique()).with_columns(
        pl.lit(True).alias("converted"))
    facts = per.join(silence, on="customer_id", how="left").join(last, on="customer_id", how="left") \
        .join(steps, on="customer_id", how="left").join(bought, on="customer_id", how="left") \
        .with_columns(pl.col("converted").fill_null(False))
    return facts


def _enum_codes(column: pl.Series) -> tuple[pl.Series, pl.DataFrame]:
    """_coded for an Enum column: its physical codes, and its categories as the lookup."""
    values = column.dtype.categories
    return column.to_physical().cast(pl.UInt32), pl.DataFrame(
        {"code": pl.int_range(len(values), dtype=pl.UInt32, eager=True), "value": values})


def channel_codes(frame: pl.DataFrame) -> tuple[pl.Series, pl.DataFrame]:
    """_coded of a polars frame's channels: from its `channel_code` (an Enum the cut adds) when it has one."""
    if "channel_code" in frame.columns:
        return _enum_codes(frame["channel_code"])
    return _coded(frame["channel"])


def order_customer_codes(t: pl.DataFrame, orders: pl.DataFrame) -> pl.Series:
    """The orders' customer codes in the code space of the touches' `customer_code` (_order_codes)."""
    return _order_codes(t, orders)[0].alias("customer_code")


def _coded(column: pl.Series) -> tuple[pl.Series, pl.DataFrame]:
    """(UInt32 codes of a string column, the lookup frame code → value), through a categorical."""
    cat = column.cast(pl.Categorical)
    values = cat.unique().drop_nulls()
    return cat.to_physical().cast(pl.UInt32), pl.DataFrame({"code": values.to_physical().cast(pl.UInt32),
                                                             "value": values.cast(pl.String)})


def _union_customer_codes(t: pl.DataFrame, orders: pl.DataFrame | None,
                          union: pl.DataFrame) -> tuple[pl.Series, pl.DataFrame]:
    """UInt32 customer codes of `union` (the touches' rows, then the orders') and the lookup code →
    customer_id. The polars touches carry their codes already (`customer_code`): reuse them, and the orders'
    when the cut coded them too, else look the orders' customers up (_order_codes) — instead of coding the
    ~20 M ids of the union again (a third of the per-customer facts' time at a million customers)."""
    if "customer_code" not in t.columns or t.is_empty():
        return _coded(union["customer_id"])
    if orders is not None and "customer_code" in orders.columns:  # coded with the touches (report.prepare)
        codes = pl.concat([t["customer_code"], orders["customer_code"]]).cast(pl.UInt32)
        rows = _first_rows(codes)
        return codes, pl.DataFrame({"code": codes.gather(rows), "value": union["customer_id"].gather(rows)})
    codes = t["customer_code"].cast(pl.UInt32)
    if orders is None:
        return codes, _touch_ids(t).rename({"customer_id": "value"})
    found, known = _order_codes(t, orders)
    return pl.concat([codes, found]), known.rename({"customer_id": "value"})


def _touch_ids(t: pl.DataFrame) -> pl.DataFrame:
    """code, customer_id: each customer code of polars touches with its id. A cut's touches number each
    customer's from 0 (touch_seq): when every code has its touch 0, those rows name each code once."""
    codes = t["customer_code"]
    rows = (t["touch_seq"] == 0).arg_true() if "touch_seq" in t.columns else None
    if rows is None or codes.null_count() or len(rows) != np.count_nonzero(np.bincount(codes.to_numpy())):
        rows = _first_rows(codes)
    firsts = t.select("customer_code", "customer_id")[rows]
    return firsts.filter(pl.col("customer_code").is_not_null()).select(
        pl.col("customer_code").cast(pl.UInt32).alias("code"), "customer_id")


def _order_codes(t: pl.DataFrame, orders: pl.DataFrame) -> tuple[pl.Series, pl.DataFrame]:
    """(the orders' customer codes in the touches' code space, the lookup code → customer_id): a touch
    customer's code, or a new one (above them all) for a customer seen only in orders."""
    known = _touch_ids(t)
    ids = orders["customer_id"]
    found = _lookup_codes(ids, known)
    new = ids.filter(found.is_null() & ids.is_not_null()).unique(maintain_order=True)
    if new.len():
        added = pl.DataFrame({"code": pl.int_range(new.len(), dtype=pl.UInt32, eager=True)
                              + int(t["customer_code"].max()) + 1, "customer_id": new})
        known = pl.concat([known, added])
        found = found.fill_null(_lookup_codes(ids, added))
    return found.alias("code"), known


def _lookup_codes(ids: pl.Series, known: pl.DataFrame) -> pl.Series:
    """known's `code` of each id (null for a null id or one not in `known`), by joining 64-bit hashes of the
    ids instead of their text (several times faster), checked: every id found must equal the id it was found
    by; the text is joined instead when a hash is shared."""
    names = known["customer_id"]
    hashed = names.hash(seed=7)
    if hashed.n_unique() == known.height:
        found = pl.DataFrame({"h": ids.hash(seed=7)}).join(
            pl.DataFrame({"h": hashed, "k": pl.int_range(known.height, dtype=pl.UInt32, eager=True)}),
            on="h", how="left", maintain_order="left")["k"]
        found = found.set(ids.is_null(), None) if ids.null_count() else found
        hit = found.is_not_null()
        if (names.gather(found.filter(hit)) == ids.filter(hit)).all():
            return known["code"].gather(found)
    return ids.to_frame("customer_id").join(known, on="customer_id", how="left", maintain_order="left")["code"]


def _pl_touch_facts(t: pl.DataFrame, orders: pl.DataFrame | None, as_of_day: int,
                    places: TouchPlaces | None = None, days: pl.DataFrame | None = None,
                    steps: bool = True) -> pl.DataFrame:
    """_touch_facts for polars frames, the same columns and values: customer ids, channels and events become
    integer codes, and several integer keys are packed into one sortable UInt64 instead of hashing strings
    (on the cut's codes when it coded them: _pl_coded_facts, which leaves the steps out unless `steps`)."""
    fast = _pl_coded_facts(t, orders, as_of_day, places, days, steps)
    if fast is not None:
        return fast
    parts = [t.select("customer_id", "channel", pl.col("timestamp").dt.date().cast(pl.Int64).alias("day"))]
    if orders is not None:
        parts.append(orders.select("customer_id", "channel",
                                   pl.col("timestamp").dt.date().cast(pl.Int64).alias("day")))
    union = pl.concat(parts) if len(parts) > 1 else parts[0]
    if union.is_empty():
        return _touch_facts(t, orders, as_of_day)
    # codes over the union of touches and orders, so a customer or a channel has one code in both
    code, ids = _union_customer_codes(t, orders, union)
    coded = [t] if orders is None else [t, orders]
    if all("channel_code" in f.columns for f in coded):  # coded once per cut (report.prepare)
        channel, channels = _enum_codes(pl.concat([f["channel_code"] for f in coded]))
    else:
        channel, channels = _coded(union["channel"])
    day = union["day"]
    ids = ids.rename({"code": "customer_code", "value": "customer_id"})
    # n_channels: distinct (customer, channel) pairs (a missing channel counts as one, as n_unique does)
    ch = channel.fill_null(int(channel.max() or 0) + 1)
    per = _distinct_pairs(code, ch).group_by("a").agg(pl.len().cast(pl.Int64).alias("n_channels"))
    # silence over the distinct active days, in (customer, day) order
    first_day = int(day.min())
    active = _distinct_pairs(code, day - first_day)
    same = pl.col("a") == pl.col("a").shift(1)
    silence = active.with_columns(pl.when(same).then(pl.col("b") - pl.col("b").shift(1))
                                  .cast(pl.Float64).alias("_gap")).group_by("a").agg(
        (as_of_day - first_day - pl.col("b").max()).cast(pl.Int64).alias("days_silent"),
        pl.len().cast(pl.Int64).alias("active_days"), pl.col("_gap").median().alias("own_gap"))
    # the touches in (customer, touch_seq) order: the last touch, the journey, whether they bought
    m = t.height
    narrow = pl.DataFrame({"c": code.head(m), "s": t["touch_seq"], "ch": channel.head(m),
                           "r": pl.int_range(m, dtype=pl.UInt32, eager=True),
                           "buy": (t["event_type"] == "purchase").fill_null(False)})
    if m:
        narrow = narrow[_sort_perm([narrow["c"], narrow["s"] - int(narrow["s"].min())])]
    c, chan = pl.col("c"), pl.col("ch")
    last = narrow.filter((c != c.shift(-1)).fill_null(True))
    last = pl.DataFrame({"c": last["c"], "last_touch_channel": t["channel"].gather(last["r"]),
                         "last_touch_event": t["event_type"].gather(last["r"])})
    moves = narrow.filter((c != c.shift(1)).fill_null(True) | (chan != chan.shift(1)).fill_null(chan.is_not_null()))
    lookup = dict(zip(channels["code"].to_list(), channels["value"].to_list(), strict=True))
    steps = moves.select("c", chan.replace_strict(lookup, default=None, return_dtype=pl.String).alias("steps")) \
        .group_by("c", maintain_order=True).agg("steps")
    bought = narrow.filter("buy").select("c").unique().with_columns(pl.lit(True).alias("converted"))
    facts = per.rename({"a": "c"}).join(silence.rename({"a": "c"}), on="c", how="left") \
        .join(last, on="c", how="left").join(steps, on="c", how="left").join(bought, on="c", how="left") \
        .with_columns(pl.col("converted").fill_null(False)) \
        .join(ids.rename({"customer_code": "c"}), on="c", how="left")
    return facts.select("customer_id", "n_channels", "days_silent", "active_days", "own_gap", "last_touch_channel",
                        "last_touch_event", "steps", "converted")


def _runs(keys: np.ndarray) -> np.ndarray:
    """Where each run of equal neighbours starts in `keys` (its first place)."""
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, dtype=np.int64)


def _run_starts(keys: np.ndarray) -> np.ndarray:
    """Whether each place of `keys` starts a run of equal neighbours (the booleans _runs lists)."""
    first = np.ones(len(keys), dtype=bool)
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    return first


@dataclass
class TouchPlaces:
    """Touches in (customer_code, touch_seq) order, as arrays: each one's customer code, day (days since
    1970-01-01), channel code (a missing channel: the code after the Enum's), purchase flag, and row in
    `source` (the frame that holds its text)."""

    c: np.ndarray
    day: np.ndarray
    channel: np.ndarray
    buy: np.ndarray
    rows: np.ndarray
    source: pl.DataFrame
    by_id: np.ndarray | None = None  # the codes of all touch customers (0, 1, …) in customer_id order, when known
    distinct_days: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None  # _distinct_days(c, day), when shared

    @classmethod
    def of(cls, t: pl.DataFrame) -> TouchPlaces:
        """From coded touches alone: one sort, one gather of packed integers."""
        order = _sort_perm([t["customer_code"], t["touch_seq"] - int(t["touch_seq"].min())]).to_numpy()
        missing = len(t["channel_code"].dtype.categories)
        day, channel, buy = _packed(t["timestamp"].dt.date().cast(pl.Int64).to_numpy(),
                                    t["channel_code"].to_physical().fill_null(missing).to_numpy(),
                                    (t["event_type"] == "purchase").fill_null(False).to_numpy(),
                                    max(1, missing.bit_length()))(order)
        return cls(np.sort(t["customer_code"].to_numpy()), day, channel.astype(np.int64), buy, order, t)


def _packed(value: np.ndarray, channel: np.ndarray, buy: np.ndarray,
            channel_bits: int) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """What gathers (value, channel code, purchase flag) at given rows: one gather of the three packed into one
    integer when they fit (a gather of millions of values at random places costs more than packing and
    unpacking them), else three gathers. The packing is done here, before the rows are known."""
    low = int(value.min()) if len(value) else 0
    if not len(value) or (int(value.max()) - low).bit_length() + channel_bits + 1 > 64:
        return lambda rows: (value[rows], channel[rows], buy[rows])
    packed = ((value - low).astype(np.uint64) << np.uint64(channel_bits + 1)) \
        | (channel.astype(np.uint64) << np.uint64(1)) | buy.astype(np.uint64)

    def at(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        taken = packed[rows]
        channel_at = ((taken >> np.uint64(1)) & np.uint64((1 << channel_bits) - 1)) \
            .astype(np.min_scalar_type((1 << channel_bits) - 1))
        buy_at = (taken & np.uint64(1)).astype(bool)
        taken >>= np.uint64(channel_bits + 1)  # in place: the values, as int64 from `low`
        value_at = taken.view(np.int64)
        value_at += low
        return value_at, channel_at, buy_at
    return at


def facts_coded(t: pl.DataFrame, orders: pl.DataFrame | None) -> bool:
    """Whether polars touches and orders carry the cut's codes that _pl_coded_facts works on."""
    coded = [t] if orders is None else [t, orders]
    return all({"customer_code", "channel_code"} <= set(f.columns) for f in coded) and "touch_seq" in t.columns \
        and not any(f["customer_code"].null_count() for f in coded) and not t["timestamp"].null_count() \
        and len(t["channel_code"].dtype.categories) <= 62


def _pl_coded_facts(t: pl.DataFrame | None, orders: pl.DataFrame | None, as_of_day: int,
                    places: TouchPlaces | None, days: pl.DataFrame | None = None,
                    steps: bool = True) -> pl.DataFrame | None:
    """_pl_touch_facts for touches and orders that the cut coded (`customer_code`, `channel_code`), the same
    columns and values, from one pass over the touches in (customer, touch_seq) order — `places`, which the
    session index keeps for every view of the cut, else TouchPlaces.of(t) — and the orders per customer-day,
    on arrays indexed by customer code: no grouping by customer or joining at all. With `places`, `t` is not
    read (the places' source, the cut, is checked instead). None when the frames are not coded so (facts_coded)
    or there is no touch (the caller takes the general path). Without `steps`, no `steps` column
    (SessionIndex.journey_steps makes it on its own). With one more column first: `customer_code`, to join on."""
    if places is not None:
        t = places.source
    if t.is_empty() or (places is not None and not len(places.c)) or not facts_coded(t, orders):
        return None
    channel_names = t["channel_code"].dtype.categories
    missing = len(channel_names)  # a missing channel: a code of its own
    p = places if places is not None else TouchPlaces.of(t)
    oc = orders["customer_code"].to_numpy() if orders is not None else np.zeros(0, dtype=np.uint32)
    size = int(max(p.c[-1], oc.max() if len(oc) else 0)) + 1
    c_p, day_p, ch_p, buy_p = p.c, p.day, p.channel, p.buy
    low = int(day_p.min()) if orders is None or orders.is_empty() else \
        min(int(day_p.min()), int(orders["timestamp"].min().date().toordinal()) - 719_163)
    new_c = _run_starts(c_p)  # a customer's first place
    starts = np.flatnonzero(new_c)
    toucher = c_p[starts]  # the customers with a touch, ascending
    ends = np.append(starts[1:], len(c_p)) - 1
    # active days, the last one and own_gap per customer, beside the rest (another pass over every place)
    od_c = od_day = np.zeros(0, dtype=np.int64)
    if orders is not None and len(oc):
        od = order_days(orders) if days is None else days
        od_c, od_day = od["c"].to_numpy(), od["day"].to_numpy() - low
    def by_day() -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # days from `low`, which packs them into fewer bits
        if p.distinct_days is None:
            return _active_days(c_p, day_p - low, od_c, od_day)
        tc, td = p.distinct_days()
        return _active_days(c_p, day_p, od_c, od_day, (tc, td - low))
    by_day = beside(by_day)
    # n_channels: the distinct channels of a customer's touches and orders, as cells of a customer × channel
    # table (a scatter of millions of places costs a fraction of reducing them per customer); of the places, only
    # those where a customer's channel changes (a quarter of them: a run of one channel adds no cell)
    k = missing + 1
    cell_type = np.uint32 if size * k < 2**32 else np.int64
    seen = np.zeros(size * k, dtype=bool)
    change = new_c.copy()
    change[1:] |= ch_p[1:] != ch_p[:-1]
    at = np.flatnonzero(change)
    seen[c_p[at].astype(cell_type) * cell_type(k) + ch_p[at]] = True
    if orders is not None and len(oc):
        och = orders["channel_code"].to_physical().fill_null(missing).to_numpy()
        seen[oc.astype(cell_type) * cell_type(k) + och] = True
    n_channels = seen.reshape(size, k).sum(axis=1)
    present = np.flatnonzero(n_channels)
    journeys = _steps(c_p, ch_p, new_c, channel_names) if steps else None
    # a customer's id: from their first touch, or their first order when they only bought
    ids = np.full(size, -1, dtype=np.int64)
    ids[toucher] = -2 - p.rows[starts].astype(np.int64)  # a touch row r (of p.source) as −2 − r
    if orders is not None and len(oc):
        orows = _first_rows(orders["customer_code"]).to_numpy()
        only = ids[oc[orows]] == -1
        ids[oc[orows][only]] = orows[only]
    active, last_day, own_gap = by_day()
    # in customer_id order (the per-customer table's) when the places know each touch customer's place in it
    id_sorted = p.by_id is not None and int(present[-1]) < len(p.by_id)
    if id_sorted:
        place = np.full(max(size, len(p.by_id)), -1, dtype=np.int64)
        place[present] = np.arange(len(present))
        perm = place[p.by_id]
        perm = perm[perm >= 0]
        present, last_day, active, own_gap = present[perm], last_day[perm], active[perm], own_gap[perm]
    pick = ids[present]
    from_t = pick < -1
    customer_id = p.source["customer_id"].gather(pl.Series(np.where(from_t, -2 - pick, 0))) if from_t.all() else \
        pl.select(pl.when(pl.lit(pl.Series(from_t))).then(pl.lit(p.source["customer_id"].gather(
            pl.Series(np.where(from_t, -2 - pick, 0))))).otherwise(pl.lit(orders["customer_id"].gather(
                pl.Series(np.where(from_t, 0, pick)))))).to_series()
    at_touch = np.full(size, -1, dtype=np.int64)
    at_touch[toucher] = np.arange(len(toucher))
    where = at_touch[present]  # each present customer's place among the touching ones (−1: none)
    has_touch = where >= 0
    pos = pl.Series(where).set(pl.Series(~has_touch), None) if not has_touch.all() else pl.Series(where)
    last_rows = pl.Series(p.rows[ends])

    def by_touch(values: pl.Series) -> pl.Series:  # null for a customer who only bought
        return values.gather(pos)

    converted = np.zeros(len(present), dtype=bool)
    converted[has_touch] = np.logical_or.reduceat(buy_p, starts)[where[has_touch]]
    return pl.DataFrame({
        "customer_code": present.astype(np.uint32),
        "customer_id": customer_id.set_sorted() if id_sorted else customer_id,
        "n_channels": n_channels[present].astype(np.int64),
        "days_silent": (as_of_day - low - last_day).astype(np.int64),
        "active_days": active.astype(np.int64),
        "own_gap": pl.Series(own_gap).fill_nan(None),
        "last_touch_channel": by_touch(p.source["channel"].gather(last_rows).alias("last_touch_channel")),
        "last_touch_event": by_touch(p.source["event_type"].gather(last_rows).alias("last_touch_event")),
        **({"steps": by_touch(journeys)} if journeys is not None else {}),
        "converted": converted,
    })


def _active_days(c: np.ndarray, day: np.ndarray, od_c: np.ndarray, od_day: np.ndarray,
                 touch_days: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(active days, the last active day, own_gap) of each customer with a place or an order day, in code order:
    from places' codes and days in (customer, time) order and order days' codes and days in (code, day) order
    (days from the same origin, not negative); `touch_days`: the places' distinct (code, day) pairs
    (_distinct_days) when known."""
    tc, td = touch_days if touch_days is not None else _distinct_days(c, day)
    if not len(tc) and not len(od_c):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    if len(od_c):  # both lists are in (customer, day) order: one sort of the two packed merges them
        width = max(1, int(max(td.max() if len(td) else 0, od_day.max())).bit_length())
        code_bits = max(1, int(max(tc.max() if len(tc) else 0, od_c.max())).bit_length())
        kind = np.uint32 if code_bits + width <= 32 else np.uint64  # numpy sorts 32-bit values 2-3 times faster
        keys = np.concatenate([(tc.astype(kind) << kind(width)) | td.astype(kind),
                               (od_c.astype(kind) << kind(width)) | od_day.astype(kind)])
        # numpy's stable sort (timsort) finds the two sorted runs and merges them: 0.02 s for 10 M keys, where
        # its quicksort takes 0.4 s
        keys.sort(kind="stable")
        keys = keys[_run_starts(keys)]
        tc, td = keys >> kind(width), keys & kind((1 << width) - 1)
    kstarts = _runs(tc)
    active = np.diff(np.append(kstarts, len(tc)))
    last_day = td[np.append(kstarts[1:], len(tc)) - 1].astype(np.int64)
    # own_gap: the median gap between a customer's active days, from the gaps sorted within each customer: each
    # gap packed with its customer's code above it, so that one sort orders them by customer, then by size
    later = tc[1:] == tc[:-1]
    gaps = np.diff(td)[later]
    n_gaps = active - 1
    has_gap = n_gaps > 0
    own_gap = np.full(len(kstarts), np.nan)
    if len(gaps):
        gap_bits = max(1, int(gaps.max()).bit_length())
        kind = np.uint32 if max(1, len(kstarts).bit_length()) + gap_bits <= 32 else np.uint64
        packed = np.repeat(np.arange(len(kstarts), dtype=kind), n_gaps)  # a gap's customer: its number here
        packed <<= kind(gap_bits)
        packed |= gaps.astype(kind)
        packed.sort(kind="stable")  # in runs by customer already: timsort sorts within them (3 times faster)
        first_gap = np.cumsum(n_gaps) - n_gaps
        lo = first_gap[has_gap] + (n_gaps[has_gap] - 1) // 2
        hi = first_gap[has_gap] + n_gaps[has_gap] // 2
        mask = kind((1 << gap_bits) - 1)
        own_gap[has_gap] = ((packed[lo] & mask).astype(np.float64) + (packed[hi] & mask)) / 2
    return active, last_day, own_gap


def _distinct_days(c: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (code, day) pairs of places in (customer, time) order — a customer's days do not decrease,
    so each pair is a run — in that order."""
    first = _run_starts(c)
    first[1:] |= day[1:] != day[:-1]
    return c[first], day[first]


def _steps(c: np.ndarray, channel: np.ndarray, first: np.ndarray, channel_names: pl.Series) -> pl.Series:
    """The journey of each customer (ascending codes) of places in (customer, touch_seq) order — their codes,
    channel codes (len(channel_names): missing) and whether each is its customer's first: the channels of a
    customer's touches, a step at each change (a missing channel is none)."""
    missing = len(channel_names)
    move = first.copy()
    changed = channel[1:] != channel[:-1]
    changed &= channel[1:] != missing
    move[1:] |= changed
    names = pl.Series("steps", [*channel_names, None], dtype=pl.String)
    # (c in ascending order, flagged so: polars then groups runs of rows instead of hashing, several times faster)
    return pl.DataFrame({"c": pl.Series(c[move]).set_sorted(), "steps": names.gather(channel[move].astype(np.int64))}) \
        .group_by("c", maintain_order=True).agg("steps")["steps"]


def _journey_steps(c: np.ndarray, channel: np.ndarray, channel_names: pl.Series) -> pl.DataFrame:
    """customer_code, steps: the journey of each customer of places in (customer, touch_seq) order (their codes,
    ascending, and channel codes) — the `steps` that customer_facts leaves out when asked to (a customer without
    a touch has none)."""
    if not len(c):
        return pl.DataFrame(schema={"customer_code": pl.UInt32, "steps": pl.List(pl.String)})
    first = _run_starts(c)
    return pl.DataFrame({"customer_code": c[first].astype(np.uint32), "steps": _steps(c, channel, first, channel_names)})


# Up to this many cells, _distinct_pairs marks (a, b) pairs in a table of booleans (64 MB at most) instead of
# sorting — periods × customers, customers × channels — and the funnel keeps customers × channels best stages.
_PAIR_TABLE_CELLS = 64_000_000


def _distinct_pairs(a: pl.Series, b: pl.Series) -> pl.DataFrame:
    """The distinct (a, b) pairs of two non-negative integer columns (as columns a, b) in (a, b) order: marked
    in a table of booleans when a × b is small enough, else packed into one UInt64 and sorted."""
    if len(a) and a.null_count() == 0 and b.null_count() == 0 and min(int(a.min()), int(b.min())) >= 0:
        rows, cols = int(a.max()) + 1, int(b.max()) + 1
        if rows * cols <= _PAIR_TABLE_CELLS:
            seen = np.zeros((rows, cols), dtype=bool)
            seen[a.to_numpy(), b.to_numpy()] = True
            ia, ib = np.nonzero(seen)  # in (a, b) order
            return pl.DataFrame({"a": pl.Series(ia).cast(a.dtype), "b": pl.Series(ib).cast(b.dtype)})
    key = _pack([a, b])
    if key is None:
        return pl.DataFrame({"a": a, "b": b}).unique().sort("a", "b")
    bits = max(1, int(b.max() or 0).bit_length())
    # sorting values (numpy's vectorised sort) and dropping repeats beats hashing; the pairs come out in (a, b) order
    packed = pl.Series(np.sort(key.to_numpy()))
    packed = packed.filter((packed != packed.shift(1)).fill_null(True))
    return pl.DataFrame({"a": (packed // (1 << bits)).cast(a.dtype), "b": (packed % (1 << bits)).cast(b.dtype)})


def customer_facts(t_all: Any, orders_all: Any | None, as_of: datetime, period: str | None,
                   places: TouchPlaces | None = None, days: pl.DataFrame | None = None,
                   steps: bool = True) -> CustomerRollups:
    """Lifetime per-customer facts up to as_of (§2, §4, §6, §8) and per-customer-period order activity (§3;
    None when `period` is).

    facts: customer_id, first_order, acquisition_channel, orders, revenue, last_order, frequency, recency, T,
    monetary_value, n_channels, last_touch_channel, last_touch_event, days_silent, active_days, own_gap, steps,
    converted (has a purchase touch).

    `places`: polars touches in (customer, touch_seq) order (SessionIndex.places of `t_all`), which saves
    sorting them again — `t_all` may then be None, when the touches and orders are coded (facts_coded of the
    places' source) and there is a place; `days`: order_days of `orders_all`, when the caller has it. Without
    `steps`, the facts may come without `steps` (on the coded path, where SessionIndex.journey_steps of the same places
    makes them on their own: a fifth of the facts' time, for the one page that reads them) and then come with
    the customers' `customer_code`, to attach them by.
    """
    as_of_day = (as_of.date() - date(1970, 1, 1)).days
    coded_orders = isinstance(orders_all, pl.DataFrame) and "customer_code" in orders_all.columns \
        and not orders_all["customer_code"].null_count()
    with ThreadPoolExecutor(max_workers=1) as pool:  # the order side beside the touch side (both let go of the GIL)
        order_side = pool.submit(_pl_order_facts, orders_all, as_of_day, days) if coded_orders else None
        if isinstance(t_all, pl.DataFrame) or places is not None:
            facts = _pl_touch_facts(t_all, orders_all, as_of_day, places, days, steps)
        else:
            facts = _touch_facts(t_all, orders_all, as_of_day)
        if order_side is not None:  # on the customer codes when both sides have them (a tenth of joining text)
            by = "customer_code" if "customer_code" in facts.columns else "customer_id"
            facts = facts.join(order_side.result().drop("customer_id" if by == "customer_code" else "customer_code"),
                               on=by, how="left", maintain_order="left")
    if "steps" in facts.columns:
        facts = facts.drop("customer_code", strict=False)
    activity = pl.DataFrame(schema={"customer_id": pl.String, "p": pl.Int64, "revenue": pl.Float64})
    if coded_orders:
        return CustomerRollups(facts=facts, activity=period_activity(orders_all, period) if period else None)
    if orders_all is not None:
        lo = lazy(orders_all)
        first = first_orders(orders_all)
        activity = period_activity(orders_all, period) if period is not None else activity
        totals = collect(lo.group_by("customer_id").agg(
            nw.len().cast(nw.Int64).alias("orders"), nw.col("revenue").sum().alias("revenue"),
            nw.col("timestamp").max().alias("last_order")))
        # METRICS.md §4 in days: purchase days, frequency, recency, T, monetary value (after the first day)
        by_day = lo.group_by("customer_id", day_number(nw.col("timestamp")).alias("day")).agg(
            nw.col("revenue").sum())
        by_day = by_day.with_columns(_first_day=nw.col("day").min().over("customer_id"))
        summary = collect(by_day.group_by("customer_id").agg(
            nw.len().cast(nw.Int64).alias("_n"), nw.col("day").max().alias("_last"),
            nw.col("_first_day").min().alias("_first"), nw.col("revenue").sum().alias("_total"),
            nw.when(nw.col("day") == nw.col("_first_day")).then(nw.col("revenue")).otherwise(0.0).sum()
            .alias("_first_rev"))).select(
            "customer_id", (pl.col("_n") - 1).alias("frequency"),
            (pl.col("_last") - pl.col("_first")).cast(pl.Float64).alias("recency"),
            (as_of_day - pl.col("_first")).cast(pl.Float64).alias("T"),
            pl.when(pl.col("_n") > 1).then((pl.col("_total") - pl.col("_first_rev")) / (pl.col("_n") - 1))
            .otherwise(0.0).alias("monetary_value"))
        facts = facts.join(first, on="customer_id", how="left").join(totals, on="customer_id", how="left") \
            .join(summary, on="customer_id", how="left")
    return CustomerRollups(facts=facts, activity=activity if period is not None else None)


def _pl_order_facts(orders: pl.DataFrame, as_of_day: int, days: pl.DataFrame | None = None) -> pl.DataFrame:
    """The order side of customer_facts for polars orders that the cut coded (`customer_code`), the same
    columns and values (and `customer_code` first, to join on): on the integer codes in (customer, time) order (the cut keeps its orders so; others are
    sorted) as runs of rows instead of grouping by id text."""
    o = orders.select(pl.col("customer_code").alias("c"), "customer_id", "timestamp", "order_id", "channel",
                      "revenue")
    if not _in_order(o):
        o = o.sort("c", "timestamp", "order_id")  # a customer's first row: the first order (ties: smaller order_id)
    if o.is_empty() or o["timestamp"].null_count():
        return _pl_order_facts_grouped(o, as_of_day, days)
    starts = _runs(o["c"].to_numpy())
    ends = np.append(starts[1:], o.height) - 1
    # METRICS.md §4 in days: purchase days, frequency, recency, T, monetary value (after the first day)
    by_day = order_days(orders) if days is None else days  # in (c, day) order: the same customers' runs
    d_starts = _runs(by_day["c"].to_numpy())
    if len(d_starts) != len(starts) or not np.array_equal(by_day["c"].to_numpy()[d_starts], o["c"].to_numpy()[starts]):
        return _pl_order_facts_grouped(o, as_of_day, by_day)  # days of other orders: joined by customer instead
    d_ends = np.append(d_starts[1:], by_day.height) - 1
    day, day_revenue = by_day["day"].to_numpy(), by_day["revenue"].to_numpy()
    n = np.diff(np.append(d_starts, by_day.height))
    total, first_revenue = np.add.reduceat(day_revenue, d_starts), day_revenue[d_starts]
    firsts = o[starts]
    return pl.DataFrame({
        "customer_code": firsts["c"], "customer_id": firsts["customer_id"], "first_order": firsts["timestamp"],
        "acquisition_channel": firsts["channel"],
        "orders": np.diff(np.append(starts, o.height)).astype(np.int64),
        "revenue": np.add.reduceat(o["revenue"].fill_null(0.0).to_numpy(), starts),
        "last_order": o["timestamp"].gather(ends),
        "frequency": (n - 1).astype(np.int64),
        "recency": (day[d_ends] - day[d_starts]).astype(np.float64),
        "T": (as_of_day - day[d_starts]).astype(np.float64),
        "monetary_value": np.where(n > 1, (total - first_revenue) / np.maximum(n - 1, 1), 0.0),
    })


def _in_order(o: pl.DataFrame) -> bool:
    """Whether orders (`c`, `timestamp`, `order_id`) are in the order sorting them by those would give (a
    missing order_id first), checked between neighbours: the cut's are, and so are any rows kept from them."""
    if o.height < 2:
        return True
    if o["c"].null_count() or o["timestamp"].null_count():
        return False
    c, ts = o["c"].to_numpy(), o["timestamp"].to_physical().to_numpy()
    same_c, same_t = c[1:] == c[:-1], ts[1:] == ts[:-1]
    if not np.all((c[1:] > c[:-1]) | (same_c & ((ts[1:] > ts[:-1]) | same_t))):
        return False
    tied = np.flatnonzero(same_c & same_t)
    if not len(tied):
        return True
    before, after = o["order_id"].gather(tied), o["order_id"].gather(tied + 1)
    return bool((before.is_null() | (after >= before).fill_null(False)).all())


def _pl_order_facts_grouped(o: pl.DataFrame, as_of_day: int, days: pl.DataFrame | None) -> pl.DataFrame:
    """_pl_order_facts by grouping (`o` sorted), for what its runs do not cover (no order, a missing time)."""
    o = o.with_columns(pl.col("timestamp").dt.date().cast(pl.Int64).alias("day"))
    c = pl.col("c")
    firsts = o.filter((c != c.shift(1)).fill_null(True)).select(
        "c", "customer_id", pl.col("timestamp").alias("first_order"), pl.col("channel").alias("acquisition_channel"))
    totals = o.group_by("c").agg(pl.len().cast(pl.Int64).alias("orders"), pl.col("revenue").sum(),
                                 pl.col("timestamp").max().alias("last_order"))
    by_day = (order_days(o.rename({"c": "customer_code"})) if days is None else days).select("c", "day", "revenue")
    summary = by_day.group_by("c").agg(
        pl.len().cast(pl.Int64).alias("_n"), pl.col("day").last().alias("_last"), pl.col("day").first().alias("_first"),
        pl.col("revenue").sum().alias("_total"), pl.col("revenue").first().alias("_first_rev")).select(
        "c", (pl.col("_n") - 1).alias("frequency"), (pl.col("_last") - pl.col("_first")).cast(pl.Float64).alias("recency"),
        (as_of_day - pl.col("_first")).cast(pl.Float64).alias("T"),
        pl.when(pl.col("_n") > 1).then((pl.col("_total") - pl.col("_first_rev")) / (pl.col("_n") - 1))
        .otherwise(0.0).alias("monetary_value"))
    return firsts.join(totals, on="c").join(summary, on="c").rename({"c": "customer_code"})


def order_activity(orders: Any, period: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each buyer's first order (customer_id, first_order, acquisition_channel; ties: the smaller order_id as
    text) and their completed orders per period (customer_id, p, revenue): the cohort grid's input (§2, §3)."""
    return first_orders(orders), period_activity(orders, period)


def first_orders(orders: Any) -> pl.DataFrame:
    """Each buyer's first order: customer_id, first_order, acquisition_channel (ties: the smaller order_id as
    text)."""
    is_first = nw.col("order_id").cum_count().over("customer_id", order_by=["timestamp", "order_id"]) == 1
    return collect(lazy(orders).filter(is_first).select("customer_id", nw.col("timestamp").alias("first_order"),
                                                        nw.col("channel").alias("acquisition_channel")))


def period_activity(orders: Any, period: str) -> pl.DataFrame:
    """Completed orders per customer and period: customer_id, p, revenue."""
    activity = collect(lazy(orders).group_by("customer_id", period_index(nw.col("timestamp"), period).alias("p"))
                       .agg(nw.col("revenue").sum()))
    return activity.with_columns(pl.col("p").cast(pl.Int64))


# --- Spark input ---------------------------------------------------------------------------------------------

def spark_session():
    """The active Spark session, or a local one (SPARK_REMOTE / spark.master in the environment win)."""
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    import os

    builder = SparkSession.builder.appName("omni-metrics").config("spark.sql.session.timeZone", "UTC")
    if not os.environ.get("SPARK_REMOTE") and not os.environ.get("MASTER"):
        builder = builder.master(os.environ.get("SPARK_MASTER", "local[*]")).config("spark.ui.enabled", "false")
    return builder.getOrCreate()


def read_tables_spark(paths: list[str], spark: Any = None) -> dict[str, Any]:
    """Canonical tables from `<table>.parquet` files in the given directories or URIs (as `omni-metrics load
    --out` writes them), as Spark DataFrames with a `row_nr` for the tie rule."""
    from pyspark.sql import functions as F

    spark = spark or spark_session()
    jvm_paths = [str(p).rstrip("/") for p in paths]
    tables: dict[str, Any] = {}
    for name in TABLE_NAMES:
        for base in jvm_paths:
            target = base if base.endswith(f"{name}.parquet") else f"{base}/{name}.parquet"
            try:
                frame = spark.read.parquet(target)
            except Exception as exc:  # noqa: BLE001 — Spark raises its own AnalysisException for a missing path
                if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc).lower():
                    continue
                raise ValueError(f"Could not read {target}: {exc}") from exc
            tables[name] = frame if name in ("customers",) else \
                frame.withColumn("row_nr", F.monotonically_increasing_id())
            break
    if "interactions" not in tables and "orders" not in tables:
        raise ValueError(f"No interactions.parquet or orders.parquet under {', '.join(jvm_paths)}: write the "
                         "canonical tables with `omni-metrics load FILES --out DIR` first.")
    return tables


def height(frame: Any) -> int:
    """The number of rows of a polars, DuckDB or Spark frame."""
    if isinstance(frame, pl.DataFrame):
        return frame.height
    return int(collect(lazy(frame).select(nw.len())).item())


def spark_null_float(name: str) -> Any:
    from pyspark.sql import functions as F

    return F.lit(None).cast("double").alias(name)


def is_spark(frame: Any) -> bool:
    return type(frame).__module__.startswith("pyspark")
