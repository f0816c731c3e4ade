"""What every page shares: the sidebar (dataset, filters, settings — all in the URL), the cached report, downloads.

Contract for the pages:
- `view()` returns a `View` (dataset_id, dataset_name, tables, settings, report, loc, read_only). When there is
  no valid view (a revoked, expired or made-up share link) it shows a plain message and stops the page.
- `page_guard()` is a context manager: any exception inside becomes a plain message, never a traceback.
- `download_csv(frame, file_name, label=None)` offers a table as a spreadsheet-safe CSV.
- `store()` is the process-wide `omni_metrics.store.Store`.

How the URL holds the view: the first run of a browser session reads the address (`Settings.from_query` plus
`ds`, `share`, `lang`, `page`) into the sidebar widgets; from then on the widgets are the truth and every run
writes `Settings.to_query()` (plus `ds`/`share`/`lang`) back to `st.query_params`. So a reload, a bookmark or
a share link reproduces the view, and switching pages keeps it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time
from time import perf_counter, sleep
from typing import Any

import polars as pl
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from omni_metrics import models_apart
from omni_metrics.charts import channel_label
from omni_metrics.downloads import to_csv_bytes
from omni_metrics.html_report import render_html
from omni_metrics.i18n import LANGUAGES, Locale, normalise_language
from omni_metrics.report import Memo, Report, Settings, add_models, build_report, with_models
from omni_metrics.store import SAMPLE_OWNER, Store
from omni_metrics.ui_state import (
    PAGE_PARAM,
    attribute_options,
    browser_query,
    channel_options,
    clamp_range,
    date_bounds,
    settings_query,
)

log = logging.getLogger("omni_metrics.app")

# Sidebar widget keys; "w." keeps them apart from other session state.
DS, DATES, CHANNELS, PERIOD, ENDS = "w.ds", "w.dates", "w.channels", "w.period", "w.position_ends"
SEGMENT_PREFIX = "w.seg."
# (Settings field, minimum, maximum, step) for the "Advanced settings" expander, in METRICS.md order.
NUMBER_SETTINGS = (
    ("session_gap_minutes", 1, 24 * 60, 1),
    ("silence_factor", 1.0, 10.0, 0.5),
    ("silence_floor_days", 1, 365, 1),
    ("horizon_months", 1, 60, 1),
    ("discount_rate", 0.0, 0.2, 0.005),
    ("churn_horizon_days", 14, 365, 1),
    ("risk_high", 0.05, 1.0, 0.05),
    ("risk_medium", 0.0, 0.95, 0.05),
    ("lookback_days", 1, 365, 1),
    ("half_life_days", 0.5, 90.0, 0.5),
)


@dataclass(frozen=True)
class View:
    dataset_id: str
    dataset_name: str
    tables: dict[str, pl.DataFrame]
    settings: Settings
    report: Report
    loc: Locale
    read_only: bool
    # A model page on a large dataset whose models are still being computed in the background: `report` has the
    # descriptive figures only, and the page says so where the models go (models_pending) until they are there.
    models_pending: bool = False


@st.cache_resource(show_spinner=False)
def store() -> Store:
    return Store()


@st.cache_resource(show_spinner=False, max_entries=8)
def _tables(dataset_id: str) -> dict[str, pl.DataFrame]:
    # A resource, not cache_data: every page run reads the tables, and cache_data would copy them each time.
    return store().load_tables(dataset_id)


# The pages that show the CLV and churn models or the attribution; the others get a report without them, which
# on a large dataset is about half the work (bench/app.py). A model page adds the models to that report once.
MODEL_PAGES = frozenset({"customer_value", "silence", "journeys"})
# From this many touches on, the models of a view start in the background as soon as its descriptive figures
# are shown, so that a model page opened a little later finds them ready (a million customers: about 50 s of
# work, in a child process at the lowest CPU priority: omni_metrics.models_apart). Below it they take a few seconds and are computed when a model page asks for them. A deployment can
# move the threshold with OMNI_PREFETCH_TOUCHES (0: always; a huge number: never).
PREFETCH_TOUCHES = 250_000
# The worker starts a view's models only once the reader has stayed on it this many seconds: a reader who goes
# through several filter changes in a row does not start a child process (and its few GB) for each view passed.
PREFETCH_DELAY_SECONDS = 3.0
# The sections of a report that only some pages read (the cohort grid, silent moments, journeys, RFM, the
# per-customer table: one to three seconds on a million customers) are made in the background once a view has
# been shown this long, on a worker of their own, so that the first switch to such a page finds them made (or
# waits only for the rest); a reader already gone to another view by then skips them.
SECTIONS_DELAY_SECONDS = 0.5


def _prefetch_touches() -> int:
    try:
        return int(os.environ.get("OMNI_PREFETCH_TOUCHES", PREFETCH_TOUCHES))
    except ValueError:
        return PREFETCH_TOUCHES


def _large(tables: dict[str, pl.DataFrame]) -> bool:
    """Whether a dataset is large enough for work ahead of time in the background (PREFETCH_TOUCHES)."""
    touches = tables.get("interactions")
    return touches is not None and touches.height >= _prefetch_touches()


@st.cache_resource(show_spinner=False, max_entries=4)
def _memo(dataset_id: str) -> Memo:
    """What the reports of one dataset share across settings (the as_of cut and its touches, the per-customer
    facts of a channel choice, the sessions of a window): a change of period, start date or segment reuses them
    instead of starting over from the tables. Held for the few datasets in use (a million customers' memo is a
    few GB); one evicted is only recomputed."""
    return Memo()


@st.cache_resource(show_spinner=False, max_entries=8)
def _report(dataset_id: str, settings: Settings, models: bool = True, _progress=None, _apart: bool = False,
            _stop=None) -> Report:
    """The report of a dataset under some settings, computed once per process and then shared by every run and
    session: keyed by dataset id, settings (Settings hashes by its query form) and whether the models are in it;
    `_progress`, `_apart` and `_stop` are not part of the key; `_apart`: the models are computed in a child
    process at the lowest CPU priority (omni_metrics.models_apart: the background's way, which leaves the
    reader's reports the cores), or here when that fails; `_stop`: stops the child when it returns True. A resource, not cache_data: cache_data would unpickle a copy of the whole
    report (the per-customer table too) on every page switch, a second on a million customers. Pages only read it.
    """
    tables = _tables(dataset_id)
    clock = {"step": "start", "at": perf_counter(), "began": perf_counter()}

    def step(message: str) -> None:
        # Each step's duration goes to the log (bench/app.py reads it), the step itself to the progress box.
        now = perf_counter()
        log.info("report %s: %s took %.2f s", dataset_id[:8], clock["step"], now - clock["at"])
        clock.update(step=message, at=now)
        if _progress is not None:
            _progress(message)

    base = _report(dataset_id, settings, False, _progress=_progress) if models else None
    if base is not None and base.inputs is not None:
        # The descriptive figures are there already: only the models and attribution are left to compute.
        report = None
        if _apart:
            step("models")
            try:
                report = with_models(base, models_apart.compute(store().table_paths(dataset_id), settings, _stop))
            except models_apart.ModelsApartError as exc:  # e.g. out of memory: compute them here instead
                if exc.stopped:  # the app is being shut down
                    raise
                log.warning("models apart failed (%s): computing them in the app's process", exc)
        if report is None:
            report = add_models(base, progress=step)
        base.inputs = None  # nothing else needs the prepared touches now: let them go
    else:
        report = build_report(tables, settings, progress=step, models=models, memo=_memo(dataset_id))
    log.info("report %s: whole report%s took %.2f s", dataset_id[:8], "" if models else " (no models)",
             perf_counter() - clock["began"])
    return report


@st.cache_resource(show_spinner=False, max_entries=8)
def _choices(dataset_id: str) -> tuple[tuple[date, date] | None, list[str], dict[str, list[str]]]:
    """The sidebar's choices for a dataset (date bounds, channels, customer attributes): scanning millions of
    rows for them on every run would cost a page switch most of its time."""
    tables = _tables(dataset_id)
    return date_bounds(tables), channel_options(tables), attribute_options(tables.get("customers"))


@st.cache_resource(show_spinner=False)
def _computed() -> set[tuple[str, str, bool]]:
    """Which (dataset, settings, models) reports this process has computed, so only a first compute shows
    progress."""
    return set()


@st.cache_resource(show_spinner=False)
def _newest() -> dict[str, tuple[str, str]]:
    """The view asked for last in this process ("view": (dataset id, settings key)), set before its report is
    computed: background work for a view the reader has left is skipped even while the next view's report is
    being made (it would compete with it for the two cores)."""
    return {}


def _still_shown(dataset_id: str, settings: Settings) -> bool:
    return _newest().get("view") == (dataset_id, settings.key())


def _stale(dataset_id: str, settings: Settings) -> bool:
    """Whether the models being computed for this view should stop: the reader has left it for a view whose
    model page waits for its own models (they would start only after these)."""
    waiting = _newest().get("waiting")
    return waiting is not None and waiting != (dataset_id, settings.key()) and waiting == _newest().get("view")


@st.cache_resource(show_spinner=False)
def _background() -> tuple[ThreadPoolExecutor, dict[tuple[str, str, bool], Future]]:
    """One worker for the models computed ahead of time, and its jobs by report key (process-wide)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="omni-models"), {}


def _prefetch_models(dataset_id: str, settings: Settings, tables: dict[str, pl.DataFrame], *,
                     waited_for: bool = False) -> None:
    """On a large dataset, compute this view's models in the background (see PREFETCH_TOUCHES). Only the
    newest view waits for the worker: a job for settings the reader has left and that has not started yet is
    dropped, and a job waits PREFETCH_DELAY_SECONDS first and gives up when a newer view was asked for by
    then, so a quick series of filter changes does not queue minutes of work. `waited_for`: a model page waits
    for these models (View.models_pending): the job starts at once, and a job running for a view the reader has
    left is stopped for it (see _stale); otherwise a job started runs to its end."""
    key = (dataset_id, settings.key(), True)
    if not _large(tables) or key in _computed():
        return
    executor, jobs = _background()
    if key in jobs and not jobs[key].done():
        return
    for other, job in list(jobs.items()):
        if job.done() or job.cancel():
            del jobs[other]

    def work() -> None:
        if not waited_for:
            sleep(PREFETCH_DELAY_SECONDS)
        if not _still_shown(dataset_id, settings):  # the reader has moved on: the newer view's job comes next
            return
        _report(dataset_id, settings, True, _apart=True, _stop=lambda: _stale(dataset_id, settings))
        _computed().add(key)

    jobs[key] = executor.submit(work)


@st.cache_resource(show_spinner=False)
def _sections_worker() -> tuple[ThreadPoolExecutor, dict[tuple[str, str], Future]]:
    """One worker for the reports' sections made ahead of time, and its jobs by (dataset, settings)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="omni-sections"), {}


def _prefetch_sections(dataset_id: str, settings: Settings, report: Report,
                       tables: dict[str, pl.DataFrame]) -> None:
    """On a large dataset (PREFETCH_TOUCHES), make this view's sections in the background, SECTIONS_DELAY_SECONDS
    after it was shown unless a newer view was asked for by then (a view shown again is tried again; sections
    made already cost nothing; an error is left to the page that reads them)."""
    if not _large(tables):
        return
    executor, jobs = _sections_worker()
    key = (dataset_id, settings.key())
    if key in jobs and not jobs[key].done():
        return
    for done in [k for k, job in jobs.items() if job.done()]:
        del jobs[done]

    def work() -> bool:
        sleep(SECTIONS_DELAY_SECONDS)
        for section in ("cohorts", "nps_by_period", None):  # the smaller parts first: the pages most likely next
            if not _still_shown(dataset_id, settings):  # the reader has moved on
                return False
            if section is None:
                report.customers  # noqa: B018 (the rest: journeys, RFM, the per-customer table)
            else:
                report.frames[section]  # noqa: B018 (reading a section makes it, once: report.LazyDict)
        return True

    jobs[key] = executor.submit(work)


def t(loc: Locale, key: str, default: str, **values) -> str:
    """A message from the catalogue, or `default` while the catalogue lacks the key."""
    text = loc.t(key, **values)
    return default.format(**values) if text == key else text


def locale() -> Locale:
    lang = normalise_language(st.session_state.get("lang"))
    info = st.session_state.get("_dataset_info")
    return Locale(lang, info.currency if info else "USD")


def owner_key() -> str:
    """This browser session's owner key: it marks the datasets it uploads and the links it makes."""
    if "owner" not in st.session_state:
        st.session_state["owner"] = secrets.token_urlsafe(16)
    return st.session_state["owner"]


def remember_dataset(dataset_id: str, *, switch: bool = True) -> None:
    """Make a dataset visible in this browser's picker (an upload), and show it next."""
    known = st.session_state.setdefault("known_datasets", [])
    if dataset_id not in known:
        known.append(dataset_id)
    if switch:
        st.session_state["_switch_to"] = dataset_id


def forget_dataset(dataset_id: str) -> None:
    known = st.session_state.get("known_datasets", [])
    if dataset_id in known:
        known.remove(dataset_id)
    if st.session_state.get(DS) == dataset_id:
        st.session_state["_switch_to"] = store().sample_dataset_id()


def _first_run() -> dict[str, str]:
    """The address this session opened with (read once: afterwards the widgets hold the view)."""
    if "_opened_with" not in st.session_state:
        url = {k: st.query_params.get(k) for k in st.query_params}
        st.session_state["_opened_with"] = url
        st.session_state["lang"] = normalise_language(url.get("lang"))
        if url.get("share"):
            st.session_state["_share_token"] = url["share"]
        if url.get(PAGE_PARAM):
            st.session_state["_open_page"] = url[PAGE_PARAM]
        _seed_settings(Settings.from_query(settings_query(url)))
        if url.get("ds") and not url.get("share"):
            _adopt(url["ds"])
    return st.session_state["_opened_with"]


def _adopt(dataset_id: str) -> None:
    """A reload or bookmark of this browser's own upload (`ds=`): the unguessable id is the owner's key, so the
    session takes that owner's datasets back (see docs/deploy.md)."""
    info = store().dataset(dataset_id)
    if info is None or info.owner == SAMPLE_OWNER:
        return
    st.session_state["owner"] = info.owner
    st.session_state["known_datasets"] = [d.id for d in store().datasets_for(info.owner)]
    st.session_state["_switch_to"] = dataset_id


def _seed_settings(settings: Settings) -> None:
    """Put the settings that do not depend on the data into their widgets."""
    st.session_state[PERIOD] = settings.period
    for name, *_ in NUMBER_SETTINGS:
        st.session_state[f"w.{name}"] = getattr(settings, name)
    st.session_state[ENDS] = settings.position_weights[0]
    # Dates, channels and segments need the dataset's values: seeded in _filters once it is known.
    st.session_state["_pending_filters"] = settings
    st.session_state["_as_of"] = settings.as_of


def _share_link():
    """The share link this session was opened with: (link or None, whether a token was given at all).
    Resolved on every run, so a revocation or expiry takes effect at once."""
    token = st.session_state.get("_share_token")
    if not token:
        return None, False
    return store().resolve_link(token), True


def render_sidebar() -> None:
    """Draw the shared sidebar, write the view to the URL, and keep it in session state for `view()`.
    A failure here (the database unreachable, a dataset's files gone) becomes a plain message on the page."""
    st.session_state["_shell_ran"] = True
    st.session_state.pop("_view", None)
    st.session_state.pop("_view_error", None)
    try:
        _render_sidebar()
    except Exception as exc:  # st.stop/st.rerun are BaseExceptions and pass through
        log.exception("sidebar failed")
        st.session_state.pop("_view", None)
        st.session_state["_view_error"] = t(
            locale(), "error.store", "The dashboard could not open its data: {problem}. Reload the page; if it "
            "persists, ask whoever runs the server to check the database and data directory (docs/deploy.md).",
            problem=str(exc) or type(exc).__name__)


def _render_sidebar() -> None:
    _first_run()
    with st.sidebar:
        _keep("lang", "en")
        st.segmented_control("🌐", options=list(LANGUAGES), format_func=LANGUAGES.get, key="lang",
                             label_visibility="collapsed")
        loc = locale()
        link, had_token = _share_link()
        if had_token and link is None:
            st.session_state["_view_error"] = loc.t("share.invalid")
            st.query_params.from_dict({"share": st.session_state["_share_token"]})
            return
        if link is not None:
            dataset_id, read_only = link.dataset_id, True
            if not st.session_state.get("_link_view_applied"):
                # The link's stored view fills in whatever its URL lacks (the URL's own parameters win).
                stored = Settings.from_query({**link.view, **settings_query(st.session_state["_opened_with"])})
                _seed_settings(stored)
                st.session_state.setdefault("_open_page", link.view.get(PAGE_PARAM))
                st.session_state["_link_view_applied"] = True
            st.info(loc.t("share.read_only"), icon=":material/link:")
            if shared := store().dataset(dataset_id):
                st.caption(f"{loc.t('sidebar.dataset')}: **{shared.name}**")
        else:
            dataset_id, read_only = _dataset_picker(loc), False
        info = store().dataset(dataset_id)
        if info is None:
            st.session_state["_view_error"] = loc.t("data.dataset_gone")
            return
        st.session_state["_dataset_info"] = info
        loc = locale()
        tables = _tables(dataset_id)
        settings = _filters(loc, dataset_id, tables)
        st.download_button(
            loc.t("sidebar.download_html"), icon=":material/description:", on_click="ignore",
            file_name="omni-metrics-report.html", mime="text/html",
            # Built only when clicked: the report is cached, the HTML costs a second or two.
            data=lambda: render_html(_report(dataset_id, settings, True), loc, info.name).encode("utf-8"),
        )
    st.query_params.from_dict(browser_query(
        settings, dataset=None if read_only or info.owner == SAMPLE_OWNER else dataset_id,
        share=st.session_state.get("_share_token") if read_only else None, lang=st.session_state.get("lang"),
    ))
    st.session_state["_view"] = (dataset_id, info.name, settings, read_only)


def _dataset_picker(loc: Locale) -> str:
    sample = store().sample_dataset_id()
    known = [d for d in st.session_state.setdefault("known_datasets", []) if d != sample]
    infos = {d: store().dataset(d) for d in known}
    options = [sample, *(d for d in known if infos[d] is not None)]
    if (wanted := st.session_state.pop("_switch_to", None)) in options:
        st.session_state[DS] = wanted
    if st.session_state.get(DS) not in options:
        st.session_state[DS] = sample
    _keep(DS)
    names = {d: info.name for d, info in infos.items() if info is not None}
    names[sample] = loc.t("sidebar.sample_name")
    return st.selectbox(loc.t("sidebar.dataset"), options, format_func=names.get, key=DS)


def _filters(loc: Locale, dataset_id: str, tables: dict[str, pl.DataFrame]) -> Settings:
    bounds, channels, attributes = _choices(dataset_id)
    pending: Settings | None = st.session_state.pop("_pending_filters", None)
    if st.session_state.get("_filters_for") != dataset_id or pending is not None:
        # Another dataset: its own dates and values. Those of the URL (or a share link) apply to the first one.
        wanted = pending or Settings()
        if bounds:
            st.session_state[DATES] = clamp_range(wanted.start, wanted.end, bounds)
        st.session_state[CHANNELS] = [c for c in (wanted.channels or ()) if c in channels]
        for key in [k for k in st.session_state if str(k).startswith(SEGMENT_PREFIX)]:
            del st.session_state[key]
        for column, values in attributes.items():
            st.session_state[SEGMENT_PREFIX + column] = [v for v in wanted.segments.get(column, ()) if v in values]
        st.session_state["_filters_for"] = dataset_id

    start = end = None
    if bounds:
        _keep(DATES, bounds)
        picked = st.date_input(loc.t("sidebar.date_range"), min_value=bounds[0], max_value=bounds[1], key=DATES,
                               format=loc.date_format)
        if isinstance(picked, tuple | list) and len(picked) == 2:  # a half-picked range keeps the whole span
            start, end = picked
            start = None if start == bounds[0] else start
            end = None if end == bounds[1] else end
    _keep(CHANNELS, [])
    chosen = st.multiselect(loc.t("sidebar.channels"), channels, key=CHANNELS,
                            format_func=lambda c: channel_label(loc, c),
                            placeholder=loc.t("sidebar.all_channels"))
    segments: dict[str, tuple[str, ...]] = {}
    for column, values in attributes.items():
        _keep(SEGMENT_PREFIX + column, [])
        picked_values = st.multiselect(column, values, key=SEGMENT_PREFIX + column,
                                       placeholder=loc.t("sidebar.all_values"))
        if picked_values:
            segments[column] = tuple(picked_values)
    _keep(PERIOD, "month")
    period = st.segmented_control(loc.t("sidebar.period"), ["week", "month", "quarter"],
                                  format_func=lambda p: loc.t(f"period.{p}"), key=PERIOD) or "month"
    numbers: dict[str, Any] = {}
    with st.expander(loc.t("sidebar.advanced")):
        for name, lo, hi, step in NUMBER_SETTINGS:
            numbers[name] = _number_input(loc, name, lo, hi, step)
        _keep(ENDS, Settings().position_weights[0])
        ends = st.slider(loc.t("setting.position_first_last"), 0.0, 0.5, step=0.05, key=ENDS)
        st.button(t(loc, "sidebar.reset", "Reset to defaults"), icon=":material/restart_alt:",
                  on_click=_reset_settings)
    ends = round(float(ends), 10)
    return Settings(
        as_of=st.session_state.get("_as_of"), start=start, end=end, channels=tuple(chosen) or None,
        segments=segments, period=period, position_weights=(ends, round(1 - 2 * ends, 10), ends), **numbers,
    )


def _keep(key: str, default: Any = None) -> None:
    """Hand a widget its current value again before drawing it. A widget's identity follows its label and
    options, so a language switch, another dataset or a page switch would otherwise reset it to its default."""
    st.session_state[key] = st.session_state.get(key, default)


def _reset_settings() -> None:
    # A callback: it runs before the next script run, while the widgets may still be given new values.
    _seed_settings(Settings())
    st.session_state.pop("_pending_filters", None)


def _number_input(loc: Locale, name: str, lo, hi, step):
    default = getattr(Settings(), name)
    cast = float if isinstance(default, float) else int
    key = f"w.{name}"
    # A value from a hand-edited URL outside the range is brought inside it rather than refused.
    st.session_state[key] = cast(min(max(cast(st.session_state.get(key, default)), cast(lo)), cast(hi)))
    value = st.number_input(loc.t(f"setting.{name}"), min_value=cast(lo), max_value=cast(hi), step=cast(step),
                            key=key, format="%.3f" if cast is float and step < 0.01 else None)
    return cast(value)


def open_page() -> str | None:
    """The page a share link or a `page=` parameter asked for, once per session (app.py switches to it)."""
    return st.session_state.pop("_open_page", None)


def require_shell() -> None:
    """Make sure app.py ran before this page. With a `pages/` folder next to app.py, Streamlit starts a fresh
    process (and every AppTest run) in its old pages-folder mode, where a deep link such as /data runs the page
    file alone: no sidebar, no view. Leave that mode for good and run again, through app.py."""
    if not st.session_state.pop("_shell_ran", False) and PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def view() -> View:
    """The current view; stops the page with a plain message when there is none."""
    require_shell()
    loc = locale()
    if error := st.session_state.get("_view_error"):
        st.warning(error, icon=":material/link_off:")
        st.stop()
    if "_view" not in st.session_state:
        st.warning(t(loc, "error.no_view", "Nothing to show yet: pick a dataset in the sidebar."))
        st.stop()
    dataset_id, name, settings, read_only = st.session_state["_view"]
    _newest()["view"] = (dataset_id, settings.key())
    # The models only where a page shows them, or when the whole report is there already anyway.
    models = st.session_state.get("_page") in MODEL_PAGES or (dataset_id, settings.key(), True) in _computed()
    # On a large dataset a model page does not wait for them (about a minute on a million customers): it shows
    # the descriptive figures now and the models when the background worker has them (models_pending) — unless
    # the worker failed on them: then the page computes them and says what went wrong.
    job = _background()[1].get((dataset_id, settings.key(), True))
    failed = job is not None and job.done() and not job.cancelled() and job.exception() is not None \
        and not getattr(job.exception(), "stopped", False)
    pending = models and (dataset_id, settings.key(), True) not in _computed() and _large(_tables(dataset_id)) \
        and not failed
    _newest()["waiting"] = (dataset_id, settings.key()) if pending else None
    models = models and not pending
    key = (dataset_id, settings.key(), models)
    # The progress box with the report's steps for long work: a dataset's first report (the cut, the sessions)
    # and the models; a later view of it (a filter change: a second or two) gets a spinner, which costs nothing
    # when it is quick (a status box holds each run for 0.1 s so that the browser sees its updates).
    long_work = key not in _computed() and (models or not any(k[0] == dataset_id for k in _computed()))
    if not long_work:
        with st.spinner(loc.t("status.computing")):
            report = _report(dataset_id, settings, models)
    else:
        holder = st.empty()  # the progress box goes away once the figures are there
        with holder.status(loc.t("status.computing"), expanded=False) as status:
            try:
                report = _report(dataset_id, settings, models,
                                 _progress=lambda message: status.update(label=_step_label(loc, message)))
            except Exception:
                status.update(label=t(loc, "status.failed", "The figures could not be computed"), state="error")
                raise
        holder.empty()
    if key not in _computed():
        _computed().add(key)
        if models:
            _computed().add((dataset_id, settings.key(), False))
    if not models:
        # the sections once the page is drawn (page_guard), not beside the page's own work; the models' job now
        # (it waits PREFETCH_DELAY_SECONDS, or computes them at the idle priority for a page that waits)
        st.session_state["_after_page"] = [lambda: _prefetch_sections(dataset_id, settings, report,
                                                                      _tables(dataset_id))]
        _prefetch_models(dataset_id, settings, _tables(dataset_id), waited_for=pending)
    return View(dataset_id, name, _tables(dataset_id), settings, report, loc, read_only, pending)


def models_pending(v: View) -> None:
    """Where a page shows the models of a view that are still being computed in the background (View.
    models_pending): says so, and reruns the page once they are there. Once per page."""
    st.info(v.loc.t("status.models_pending"), icon=":material/hourglass_top:")
    _rerun_when_ready(v.dataset_id, v.settings)


@st.fragment(run_every=2)
def _rerun_when_ready(dataset_id: str, settings: Settings) -> None:
    key = (dataset_id, settings.key(), True)
    job = _background()[1].get(key)
    if key in _computed() or job is None or job.done():
        st.rerun()  # the models are there, or their job failed or was dropped: view() sees to them


def _step_label(loc: Locale, step: str) -> str:
    """The progress box's line for a step of the report: "Computing the figures — sessions and conversion"."""
    return f"{loc.t('status.computing')} {t(loc, f'status.step.{step}', step)}"


@contextlib.contextmanager
def page_guard():
    """Turn any error while drawing a page into a plain message with what to do, never a traceback. Then start
    the background work view() left for after the page (its view's sections: started sooner, they compete with
    the page for the cores — a model page reads its own sections for a second after view())."""
    try:
        yield
    except Exception as exc:  # the user must never see a traceback (st.stop/rerun are BaseExceptions)
        log.exception("page failed")
        st.error(locale().t("error.page", problem=str(exc) or type(exc).__name__))
    finally:
        for work in st.session_state.pop("_after_page", []):
            work()


def download_csv(frame: pl.DataFrame, file_name: str, label: str | None = None, key: str | None = None) -> None:
    """A spreadsheet-safe CSV of `frame`, written only when the button is clicked (a per-customer list of a
    million rows would otherwise cost every run a second); clicking does not rerun the page."""
    st.download_button(label or locale().t("common.download_csv"), lambda: to_csv_bytes(frame),
                       file_name=file_name, mime="text/csv", key=key or f"dl_{file_name}",
                       icon=":material/download:", on_click="ignore")


def end_of_day(d: date) -> datetime:
    return datetime.combine(d, time.max)


def fmt_value(loc: Locale, value: Any, kind: str) -> str:
    """One place that formats a figure by its kind: count, money, rate, score, ratio."""
    if kind == "count":
        return loc.number(value)
    if kind == "money":
        return loc.money(value)
    if kind == "rate":
        return loc.percent(value)
    if kind == "score":
        return loc.number(value, 1)
    return loc.number(value, 2)
