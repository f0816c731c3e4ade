"""Multi-touch attribution (METRICS.md §7): conversion paths, five rule-based models and an exact Markov model."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl

MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based", "markov")

TOUCH_COLUMNS = ("customer_id", "timestamp", "channel", "event_type", "order_id", "touch_seq")
ORDER_COLUMNS = ("order_id", "revenue")

# The columns of conversion_paths(): one row per touch that sits on a path.
PATH_COLUMNS = (
    "customer_id",  # whose path
    "path_id",  # integer key of the path (the running number of its last touch among all paths' ends)
    "touch_seq",
    "timestamp",
    "channel",
    "converted",  # the path ends in a conversion (False: the null path)
    "value",  # the conversion's value, repeated on every row of the path (0 on a null path)
    "path_end_time",  # conversion time, or the customer's last touch time for the null path
)

_EMPTY_ATTRIBUTION = {"channel": pl.String, "model": pl.String, "conversions": pl.Float64, "value": pl.Float64}


# --- paths: a narwhals rollup ---------------------------------------------------------------------------


def _check_columns(frame: Any, needed: tuple[str, ...], what: str) -> None:
    missing = [c for c in needed if c not in frame.collect_schema().names()]
    if missing:
        raise ValueError(f"Attribution needs the {what} columns {', '.join(needed)}; missing: {', '.join(missing)}.")


def conversion_paths(touches: Any, orders: Any, lookback_days: float = 30) -> Any:
    """The conversion and null paths of METRICS.md §7, one row per touch on a path (columns PATH_COLUMNS).

    `touches` and `orders` are native frames of one kind — polars DataFrame/LazyFrame or DuckDB relations — and
    the result is of the touches' kind, in no particular row order (sort by path_id, touch_seq for the paths
    in order). Written once on narwhals, so the same rollup runs wherever the engine runs.
    """
    if (isinstance(lookback_days, bool) or not isinstance(lookback_days, numbers.Real)
            or not (math.isfinite(lookback_days) and lookback_days > 0)):
        raise ValueError(f"The attribution lookback must be a positive number of days, not {lookback_days!r}.")
    eager = isinstance(touches, pl.DataFrame)
    t = nw.from_native(touches.lazy() if eager else touches)
    o = nw.from_native(orders.lazy() if isinstance(orders, pl.DataFrame) else orders)
    if isinstance(t, nw.DataFrame):
        t = t.lazy()
    if isinstance(o, nw.DataFrame):
        o = o.lazy()
    if t.implementation is not o.implementation:
        raise TypeError(
            f"touches and orders must be frames of the same engine, got {t.implementation} and {o.implementation}."
        )
    _check_columns(t, TOUCH_COLUMNS, "touch")
    _check_columns(o, ORDER_COLUMNS, "order")
    lookback = timedelta(days=float(lookback_days))

    is_purchase = (nw.col("event_type") == "purchase").fill_null(False)
    t = t.select(
        "customer_id", "touch_seq", "timestamp", "channel", "order_id",
        is_purchase.cast(nw.Int64).alias("_purchase"),
    )
    # Which path a touch can belong to. The literal rule — a touch is on the path of the first conversion
    # (in touch_seq order) whose window [time − lookback, time] holds it and whose path did not already take
    # it — reduces to: take the next conversion at or after the touch, keep the touch if it lies within the
    # lookback of that conversion. Proof: touch_seq follows time, so conversions after the touch come no
    # earlier than the next one; a touch outside the next conversion's window (next − t > lookback) is
    # therefore outside every later window too, and a touch inside it cannot have been taken by an earlier
    # conversion (an earlier conversion's path ends with that conversion, before the touch). So "a touch
    # within lookback of a later conversion but not of the next one" cannot happen, and each touch is used
    # at most once. Touches after the customer's last conversion form the null path, whose window ends at
    # the customer's last touch (METRICS.md: "within lookback of their last touch").
    #
    # Paths are found without a per-customer ordered window (the costly part at millions of rows). A path
    # ends at a purchase touch, or — the null path — at the customer's last touch. Number all these path
    # ends 0, 1, 2, … in (customer_id, touch_seq) order with one running sum; a touch's `_end` = the count of
    # path ends strictly before it = the number of the first path end at or after it, which is always its
    # own customer's (their last touch is one). Then one integer join brings each touch its path's end:
    # time, whether it is a conversion, and its value.
    is_last = nw.col("touch_seq") == nw.col("touch_seq").max().over("customer_id")
    t = t.with_columns(
        _boundary=(nw.col("_purchase") == 1) | is_last
    ).with_columns(
        # (cast: DuckDB sums integers into a 128-bit decimal)
        _end=(
            nw.col("_boundary").cast(nw.Int64).cum_sum().over(order_by=["customer_id", "touch_seq"])
            - nw.col("_boundary").cast(nw.Int64)
        ).cast(nw.Int64),
    )

    # Conversion value: an order's revenue goes to the earliest purchase touch linked to it (by time, then
    # customer id as text, then touch_seq — for purchase touches that is (time, `_end`), as `_end` numbers
    # them in (customer_id, touch_seq) order), later ones get 0; a purchase without a completed order gets 0.
    # Order ids are unique in the canonical orders table (the loader keeps the last duplicate); max() only
    # guards the join against a hand-made frame fanning out.
    revenue = o.group_by("order_id").agg(nw.col("revenue").max().alias("_revenue"))
    converted = nw.col("_purchase") == 1
    ends = (
        t.filter(nw.col("_boundary"))
        .join(revenue, on="order_id", how="left")
        .with_columns(_key=nw.when(converted).then(nw.col("order_id")))
        .with_columns(_earliest=nw.col("timestamp").min().over("_key"))
        .with_columns(
            _first=nw.when(nw.col("timestamp") == nw.col("_earliest")).then(nw.col("_end")).min().over("_key")
        )
        .select(
            "_end",
            converted.alias("converted"),
            nw.col("timestamp").alias("path_end_time"),
            nw.when(converted & ~nw.col("_key").is_null() & (nw.col("_end") == nw.col("_first")))
            .then(nw.col("_revenue").fill_null(0.0))
            .otherwise(0.0)
            .cast(nw.Float64)
            .alias("value"),
        )
    )
    paths = (
        t.join(ends, on="_end", how="left")
        .filter(nw.col("timestamp") >= nw.col("path_end_time") - lookback)
        .select(
            "customer_id",
            nw.col("_end").alias("path_id"),  # the number of the path's end: unique per path
            "touch_seq", "timestamp", "channel", "converted", "value", "path_end_time",
        )
    )
    native = paths.to_native()
    return native.collect() if eager else native


def _to_polars(frame: Any) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    nw_frame = nw.from_native(frame)
    if isinstance(nw_frame, nw.LazyFrame):
        return nw_frame.collect("polars").to_native()
    return nw_frame.to_polars()


# --- the models -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribution:
    """Everything the attribution page shows: the §10 frame and what lies behind the Markov model."""

    attribution: pl.DataFrame  # channel, model, conversions, value (the METRICS.md §10 `attribution` list)
    removal_effects: pl.DataFrame  # channel, removal_effect, conversion_probability_without, share
    transitions: pl.DataFrame  # from_state, to_state, count, probability ("(start)", "(conversion)", "(null)")
    totals: dict[str, float | int | None]  # conversions, value, paths, null_paths, conversion_probability


def attribution_report(
    touches: Any,
    orders: Any,
    lookback_days: float = 30,
    half_life_days: float = 7.0,
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4),
) -> pl.DataFrame:
    """Attributed conversions and value per channel and model: frame[channel, model, conversions, value]."""
    return attribution_details(touches, orders, lookback_days, half_life_days, position_weights).attribution


def attribution_details(
    touches: Any,
    orders: Any,
    lookback_days: float = 30,
    half_life_days: float = 7.0,
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4),
) -> Attribution:
    """attribution_report() plus the Markov removal effects, transition counts and totals, for the page."""
    weights = _check_settings(half_life_days, position_weights)
    if isinstance(touches, pl.DataFrame | pl.LazyFrame) and isinstance(orders, pl.DataFrame | pl.LazyFrame):
        # Stay lazy: the rollup streams straight into the few columns the models need, so the path rows
        # with their ids and names are never held in memory in full.
        paths = conversion_paths(touches.lazy(), orders.lazy(), lookback_days)
    else:
        paths = _to_polars(conversion_paths(touches, orders, lookback_days)).lazy()
    # What the sort key and the channel codes need, from the (much cheaper) touches themselves.
    t = nw.from_native(touches)
    stats = t.select(
        nw.col("touch_seq").min().alias("low"), nw.col("touch_seq").max().alias("high"), nw.len().alias("n")
    ).lazy().collect("polars").row(0)
    channels = t.select(nw.col("channel").fill_null("unknown")).unique().lazy().collect("polars")
    arrays = _path_arrays(paths, sorted(channels.to_native().to_series().to_list()), stats)
    return _attribute(arrays, half_life_days, weights)


def _check_settings(half_life_days: float, position_weights: tuple[float, float, float]) -> np.ndarray:
    if (isinstance(half_life_days, bool) or not isinstance(half_life_days, numbers.Real)
            or not (np.isfinite(half_life_days) and half_life_days > 0)):
        raise ValueError(f"The time-decay half-life must be a positive number of days, not {half_life_days!r}.")
    weights = np.asarray(position_weights, dtype=float)
    if weights.shape != (3,) or not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            "Position-based weights are three non-negative numbers (first, middle, last), e.g. 0.4, 0.2, 0.4; "
            f"got {position_weights!r}."
        )
    return weights / weights.sum()


@dataclass(frozen=True)
class _PathArrays:
    """A collected paths frame as numpy arrays, one entry per row, plus per-path facts."""

    channels: list[str]  # sorted; `code` indexes it
    code: np.ndarray
    pid: np.ndarray  # path id per row, 0 … n_paths − 1
    new_path: np.ndarray  # the row starts its path
    starts: np.ndarray  # per path: its first row
    length: np.ndarray  # per path: number of touches
    converted: np.ndarray  # per path
    value: np.ndarray  # per path
    age_seconds: np.ndarray

    @property
    def n_paths(self) -> int:
        return len(self.length)


def _path_arrays(paths: pl.LazyFrame, channels: list[str], stats: tuple) -> _PathArrays:
    """Paths as numpy arrays in (path_id, touch_seq) order; `stats` = touch_seq min, max and touch count.

    Every path-wise quantity then comes from the path id of each row and numpy bincounts over it. The sort
    is of only the columns the models need, on one integer key (path_id · 2^b + touch_seq) when it fits in
    63 bits (path_id < touches), else on the two columns.
    """
    low, high, n = stats
    columns = [
        pl.col("channel").fill_null("unknown").cast(pl.Enum(channels)).to_physical().alias("code"),
        "converted",
        "value",
        ((pl.col("path_end_time") - pl.col("timestamp")).dt.total_microseconds() / 1e6).alias("age_seconds"),
    ]
    bits = int(high or 0).bit_length()
    if (low or 0) >= 0 and int(n).bit_length() + bits <= 62:
        frame = paths.select(*columns, (pl.col("path_id") * 2**bits + pl.col("touch_seq")).alias("_key"))
        frame = frame.sort("_key")
        path = pl.col("_key") // 2**bits
    else:
        frame = paths.select(*columns, "path_id", "touch_seq").sort("path_id", "touch_seq")
        path = pl.col("path_id")
    frame = frame.with_columns(new_path=(path != path.shift()).fill_null(True)).with_columns(
        pid=pl.col("new_path").cum_sum().cast(pl.Int64) - 1
    ).collect(engine="streaming")
    code = frame.get_column("code").to_numpy().astype(np.intp)  # bincount wants the platform integer
    # Channels come from all touches; keep those on some path (METRICS.md: a row per channel on any path).
    present = np.bincount(code, minlength=len(channels)) > 0
    if not present.all():
        code = (np.cumsum(present) - 1)[code]
        channels = [c for c, keep in zip(channels, present, strict=True) if keep]
    new_path = frame.get_column("new_path").to_numpy()
    pid = frame.get_column("pid").to_numpy()
    starts = np.flatnonzero(new_path)
    length = np.diff(np.append(starts, len(pid)))
    return _PathArrays(
        channels=channels,
        code=code,
        pid=pid,
        new_path=new_path,
        starts=starts,
        length=length,
        converted=frame.get_column("converted").to_numpy()[starts].astype(bool),
        value=frame.get_column("value").to_numpy()[starts].astype(float),
        age_seconds=frame.get_column("age_seconds").to_numpy(),
    )


def attribute_paths(
    paths: pl.DataFrame,
    half_life_days: float = 7.0,
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4),
) -> Attribution:
    """All six models on a collected conversion_paths() frame."""
    weights = _check_settings(half_life_days, position_weights)
    stats = paths.select(pl.col("touch_seq").min(), pl.col("touch_seq").max().alias("high"), pl.len()).row(0)
    channels = sorted(paths.get_column("channel").fill_null("unknown").unique().to_list())
    return _attribute(_path_arrays(paths.lazy(), channels, stats), half_life_days, weights)


def _attribute(arrays: _PathArrays, half_life_days: float, weights: np.ndarray) -> Attribution:
    first_w, middle_w, last_w = weights
    channel_names, k = arrays.channels, len(arrays.channels)
    code, pid, new_path, n_paths = arrays.code, arrays.pid, arrays.new_path, arrays.n_paths
    path_converted, path_value, length = arrays.converted, arrays.value, arrays.length
    total_conversions = int(path_converted.sum())
    total_value = float(path_value[path_converted].sum())

    # --- the five rule-based models, on conversion paths only ---
    # Per path where a model only looks at a path's ends. Per-row models spread a per-path factor (0 on null
    # paths) over the rows with one gather into a reused buffer, then one weighted count per channel: few
    # passes and few fresh arrays over millions of rows.
    cp = np.flatnonzero(path_converted)
    cp_value, cp_length = path_value[cp], length[cp]
    first_code = code[arrays.starts[cp]]
    last_code = code[arrays.starts[cp] + cp_length - 1]  # the conversion touch itself
    row_weight = np.empty(len(pid))
    row_value = np.empty(len(pid))

    def per_row(path_factor: np.ndarray, row_factor: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Σ per channel of path_factor[path] (· row_factor), and of the same times the path's value."""
        path_factor = np.where(path_converted, path_factor, 0.0)
        np.take(path_factor, pid, out=row_weight)
        np.take(path_factor * path_value, pid, out=row_value)
        if row_factor is not None:
            np.multiply(row_weight, row_factor, out=row_weight)
            np.multiply(row_value, row_factor, out=row_value)
        return np.bincount(code, weights=row_weight, minlength=k), np.bincount(code, weights=row_value, minlength=k)

    def per_path(codes: np.ndarray, share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.bincount(codes, weights=share, minlength=k),
                np.bincount(codes, weights=share * cp_value, minlength=k))

    ones = np.ones(len(cp))
    rows = [("first_touch", *per_path(first_code, ones)), ("last_touch", *per_path(last_code, ones))]
    rows.append(("linear", *per_row(1.0 / np.maximum(length, 1))))
    # Time decay 2^(−age / half-life), age in exact seconds back from the conversion. The conversion touch
    # itself has age 0 and weight 1, so a path's sum is ≥ 1 and never underflows to 0.
    decay = np.exp2(arrays.age_seconds * (-1.0 / (half_life_days * 86_400.0)))
    decay_sum = np.bincount(pid, weights=decay, minlength=n_paths)
    rows.append(("time_decay", *per_row(1.0 / np.maximum(decay_sum, 1.0), decay)))
    del decay
    # Position based: first / middle / last shares; one touch takes all, two touches split first:last (50/50
    # with the default 40/40), more touches share the middle weight equally.
    pair_first = first_w / (first_w + last_w) if first_w + last_w > 0 else 0.5
    first_share = np.where(cp_length == 1, 1.0, np.where(cp_length == 2, pair_first, first_w))
    last_share = np.where(cp_length == 1, 0.0, np.where(cp_length == 2, 1.0 - pair_first, last_w))
    middle = ~(new_path | np.append(new_path[1:], True))
    position = [per_path(first_code, first_share), per_path(last_code, last_share),
                per_row(middle_w / np.maximum(length - 2, 1), middle)]
    rows.append(("position_based", sum(p[0] for p in position), sum(p[1] for p in position)))

    # --- Markov ---
    markov = _markov(arrays)
    if markov.conversion_probability is None:
        rows.append(("markov", np.full(k, np.nan), np.full(k, np.nan)))
    else:
        re = markov.removal_effect
        share = re / re.sum()
        rows.append(("markov", total_conversions * share, total_value * share))

    attribution = (
        pl.DataFrame(
            {
                "channel": channel_names * len(rows),
                "model": [m for m, _, _ in rows for _ in range(k)],
                "conversions": np.concatenate([c for _, c, _ in rows]) if k else np.zeros(0),
                "value": np.concatenate([v for _, _, v in rows]) if k else np.zeros(0),
            },
            schema=_EMPTY_ATTRIBUTION,
        )
        .with_columns(pl.col("conversions", "value").fill_nan(None))
    )
    removal = pl.DataFrame(
        {
            "channel": channel_names,
            "removal_effect": markov.removal_effect,
            "conversion_probability_without": markov.probability_without,
            "share": markov.removal_effect / markov.removal_effect.sum()
            if markov.conversion_probability is not None else np.full(k, np.nan),
        },
        schema={"channel": pl.String, "removal_effect": pl.Float64,
                "conversion_probability_without": pl.Float64, "share": pl.Float64},
    ).with_columns(pl.col("removal_effect", "conversion_probability_without", "share").fill_nan(None))
    totals = {
        "conversions": total_conversions,
        "value": total_value,
        "paths": n_paths,
        "null_paths": n_paths - total_conversions,
        "conversion_probability": markov.conversion_probability,
    }
    return Attribution(attribution, removal, markov.transitions(channel_names), totals)


# --- Markov: exact absorbing-chain algebra --------------------------------------------------------------


@dataclass(frozen=True)
class _Markov:
    counts: np.ndarray  # (k + 1) × (k + 2): rows channels + start, columns channels + conversion + null
    conversion_probability: float | None
    removal_effect: np.ndarray
    probability_without: np.ndarray

    def transitions(self, channels: list[str]) -> pl.DataFrame:
        k = len(channels)
        names_from = [*channels, "(start)"]
        names_to = [*channels, "(conversion)", "(null)"]
        src, dst = np.nonzero(self.counts)
        row_total = self.counts.sum(axis=1)
        return pl.DataFrame(
            {
                "from_state": [names_from[i] for i in src],
                "to_state": [names_to[j] for j in dst],
                "count": self.counts[src, dst].astype(np.int64),
                "probability": self.counts[src, dst] / row_total[src] if k else np.zeros(0),
            },
            schema={"from_state": pl.String, "to_state": pl.String, "count": pl.Int64, "probability": pl.Float64},
        )


def _markov(arrays: _PathArrays) -> _Markov:
    """First-order absorbing chain start → channels → conversion/null over all paths, solved exactly.

    States 0 … k−1 are the channels, k is start; absorbing columns k (conversion) and k+1 (null).
    With Q the channel-to-channel transition matrix, r the channel-to-conversion probabilities, s the start
    distribution and N = (I − Q)⁻¹ the fundamental matrix:
      P(conversion) = s N r.
    Removing channel c sends every walk that reaches c to null. A walk converts either without ever
    visiting c, or visits c and converts from there, so P(conversion) = P_{-c} + h_c x_c with x = N r the
    conversion probability from each state and h_c the probability of ever reaching c from start; since the
    expected number of visits to c is h_c N_cc, h_c = (s N)_c / N_cc. Hence
      P_{-c} = P − (s N)_c x_c / N_cc,  removal effect RE_c = 1 − P_{-c} / P = (s N)_c x_c / (N_cc P),
    all channels from one factorisation of I − Q (two solves and the diagonal of the inverse).
    I − Q is invertible: every path ends in an absorbing state, so no set of channels traps the walk.
    """
    code, new_path, path_converted = arrays.code, arrays.new_path, arrays.converted
    k = len(arrays.channels)
    # Path steps with consecutive repeats of a channel collapsed, counted without building the collapsed
    # paths: a step between neighbouring rows of one path counts only where the channel changes; each path
    # adds start → its first channel and its last channel → conversion or null (a run of repeats ends on
    # the same channel it started with, so the last row's channel is the last collapsed step).
    width = k + 2
    starts = arrays.starts
    ends = starts + arrays.length - 1
    changes = np.flatnonzero(~new_path[1:] & (code[1:] != code[:-1]))
    flat = np.concatenate([
        code[changes] * width + code[changes + 1],
        k * width + code[starts],
        code[ends] * width + np.where(path_converted, k, k + 1),
    ])
    counts = np.bincount(flat, minlength=(k + 1) * width).reshape(k + 1, width).astype(float)
    return _absorbing_chain(counts)


def _absorbing_chain(counts: np.ndarray) -> _Markov:
    """Exact conversion probability and removal effects from transition counts (see _markov)."""
    k = counts.shape[0] - 1
    empty = np.full(k, np.nan)
    if k == 0 or counts[:, k].sum() == 0:
        return _Markov(counts, None, empty, empty)
    row_total = counts[:k].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = np.where(row_total[:, None] > 0, counts[:k] / row_total[:, None], 0.0)
    q, r = prob[:, :k], prob[:, k]
    s = counts[k, :k] / counts[k, :k].sum()
    a = np.eye(k) - q
    inverse = np.linalg.inv(a)  # k is the number of channels: small, dense is fastest
    x = inverse @ r
    visits = s @ inverse
    p = float(s @ x)
    removal = visits * x / (np.diag(inverse) * p)
    removal = np.clip(removal, 0.0, 1.0)  # rounding only: RE is a probability ratio
    return _Markov(counts, p, removal, p * (1.0 - removal))
