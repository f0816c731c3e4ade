"""Data: upload exports, check what each file was read as, correct the mapping, save; datasets and share links."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import streamlit as st

from omni_metrics.html_report import describe_setting
from omni_metrics.i18n import Message
from omni_metrics.loading import LoadError, load_file, load_files, propose_mapping, read_headers
from omni_metrics.schema import TABLE_NAMES, TABLES
from omni_metrics.ui_state import PAGES, share_url, view_query
from pages._shared import (
    download_csv,
    forget_dataset,
    locale,
    owner_key,
    page_guard,
    remember_dataset,
    require_shell,
    store,
    t,
)

require_shell()
loc = locale()
st.title(loc.t("data.title"))
st.caption(loc.t("data.intro"))

EXPIRY_DAYS = {"never": None, "1": 1, "7": 7, "30": 30, "90": 90}
NONE = "—"
HERE = Path(__file__).resolve().parent


@st.cache_data(show_spinner=False, max_entries=64)
def _read(data: bytes, name: str, table: str | None, mapping: tuple[tuple[str, str], ...] | None):
    """One file read with the chosen table/mapping: (result, None) or (None, what LoadError says is wrong)."""
    try:
        return load_file(data, name, table=table, mapping=dict(mapping) if mapping else None), None
    except LoadError as exc:
        return None, exc.problem


@st.cache_data(show_spinner=False, max_entries=64)
def _headers(data: bytes, name: str) -> list[str]:
    try:
        return read_headers(data, name)
    except LoadError:
        return []


def _choose_table(name: str) -> None:
    # A callback: another table means the mapping proposed for it, not the old table's corrections.
    st.session_state[f"table.{name}"] = st.session_state[f"pick_table.{name}"]
    st.session_state.pop(f"mapping.{name}", None)


def _mapping_editor(name: str, data: bytes, table: str, current: dict[str, str]) -> None:
    headers = _headers(data, name)
    if not headers:
        return
    with st.form(f"mapping_form.{name}", border=False):
        columns = st.columns(3)
        for i, column in enumerate(TABLES[table].columns):
            options = [NONE, *headers]
            chosen = current.get(column.name)
            columns[i % 3].selectbox(column.name + (" *" if column.required else ""), options,
                                     index=options.index(chosen) if chosen in options else 0,
                                     key=f"map.{name}.{table}.{column.name}")
        if st.form_submit_button(loc.t("data.upload.apply"), icon=":material/check:"):
            picked = {c.name: st.session_state[f"map.{name}.{table}.{c.name}"] for c in TABLES[table].columns}
            st.session_state[f"table.{name}"] = table
            st.session_state[f"mapping.{name}"] = {c: h for c, h in picked.items() if h != NONE}
            st.rerun()


def _reason(code: str) -> str:
    """Why rows were set aside (`missing_customer_id`…), in the UI language."""
    return loc.say(Message(f"reason.{code}", code))


def _formats(text: str) -> str:
    """The date formats read (`YYYY-MM-DD, Unix epoch seconds`): the words translated, the patterns kept."""
    return ", ".join(loc.say(Message(f"load.format.{part}", part)) for part in text.split(", "))


def _report_table(report) -> pl.DataFrame:
    rows = [(loc.t("data.report.encoding"), report.encoding or "–"),
            (loc.t("data.report.delimiter"), repr(report.delimiter) if report.delimiter else "–"),
            (loc.t("data.report.rows_read"), loc.number(report.rows_read)),
            (loc.t("data.report.rows_used"), loc.number(report.rows_used)),
            (loc.t("data.report.duplicates"), loc.number(report.duplicates_dropped))]
    rows += [(loc.t("data.report.decimal", column=c), m) for c, m in report.decimal.items()]
    rows += [(loc.t("data.report.date_format", column=c), _formats(f)) for c, f in report.date_format.items()]
    rows += [(loc.t("data.report.set_aside", reason=_reason(r)), loc.number(n)) for r, n in report.set_aside.items()]
    return pl.DataFrame(rows, schema=["item", "value"], orient="row")


def _file_section(data: bytes, name: str) -> tuple[bytes, str, str, dict[str, str]] | None:
    """One uploaded file: what it was read as, its corrections and load report; returns it when usable."""
    table_override = st.session_state.get(f"table.{name}")
    mapping_override = st.session_state.get(f"mapping.{name}")
    result, problem = _read(data, name, table_override,
                            tuple(sorted(mapping_override.items())) if mapping_override else None)
    table = result.table if result else table_override
    title = f"**{name}** → {loc.t(f'table.{table}')}" if result else f"**{name}**"
    icon = ":material/check_circle:" if result else ":material/error:"
    with st.expander(title, icon=icon, expanded=result is None):
        if problem:
            st.error(loc.t("data.upload.refused", file=name, problem=loc.say(problem)), icon=":material/block:")
        options = list(TABLE_NAMES)
        st.session_state[f"pick_table.{name}"] = table or options[0]
        pick, edit = st.columns([3, 1], vertical_alignment="bottom")
        picked = pick.selectbox(loc.t("data.upload.table"), options, format_func=lambda x: loc.t(f"table.{x}"),
                                key=f"pick_table.{name}", on_change=_choose_table, args=(name,))
        mapping = result.report.mapping if result else (mapping_override or propose_mapping(picked,
                                                                                            _headers(data, name)))
        with edit.popover(loc.t("data.upload.mapping"), icon=":material/tune:", width="stretch"):
            _mapping_editor(name, data, picked, mapping)
        if result is None:
            return None
        report = result.report
        left, right = st.columns(2)
        left.dataframe(pl.DataFrame({"column": list(report.mapping), "header": list(report.mapping.values())}),
                       hide_index=True, width="stretch",
                       column_config={"column": t(loc, "data.upload.canonical", "Column"),
                                      "header": t(loc, "data.upload.header", "Header in the file")})
        right.dataframe(_report_table(report), hide_index=True, width="stretch",
                        column_config={"item": t(loc, "data.upload.item", "Load report"), "value": " "})
        notes = [loc.say(note) for note in report.notes]
        if report.unused_columns:
            notes.append(t(loc, "data.upload.unused", "not used: {columns}",
                           columns=", ".join(report.unused_columns)))
        if notes:
            st.caption("  \n".join("• " + note for note in notes))
        if result.set_aside.height:
            download_csv(result.set_aside, f"set_aside_{name}.csv", loc.t("data.upload.download_aside"),
                         key=f"aside.{name}")
        return data, name, result.table, report.mapping


def upload_section() -> None:
    st.subheader(loc.t("data.upload.title"))
    # A saved upload starts a fresh uploader (a new key), so its files do not linger on the page.
    files = st.file_uploader(loc.t("data.upload.label"), accept_multiple_files=True,
                             type=["csv", "gz", "zip", "xlsx", "parquet", "tsv", "txt"],
                             key=f"uploads.{st.session_state.get('uploads_saved', 0)}")
    if saved := st.session_state.pop("just_saved", None):
        st.success(t(loc, "data.save.saved", "Saved as “{name}”: the dashboard now shows it.", name=saved),
                   icon=":material/check_circle:")
    if not files:
        current = st.session_state.get("_view")
        if not saved and current and current[0] == store().sample_dataset_id():
            st.info(loc.t("data.upload.hint"), icon=":material/info:")
        return
    good = [ok for upload in files if (ok := _file_section(upload.getvalue(), upload.name))]
    refused = len(files) - len(good)
    if refused:
        st.warning(t(loc, "data.upload.some_refused",
                     "{n} of the files cannot be used as they are: open them above to see why, pick their "
                     "table or correct the mapping, or leave them out. The others can be saved.",
                     n=refused), icon=":material/warning:")
    if not good:
        return
    with st.form("save_dataset"):
        names = [n for _, n, _, _ in good]
        default = ", ".join(names[:2]) + (f" +{len(names) - 2}" if len(names) > 2 else "")
        name = st.text_input(loc.t("data.save.name"), value=default, max_chars=200)
        currency = st.selectbox(loc.t("data.save.currency"), ["TRY", "USD", "EUR", "GBP"],
                                index=_guess_currency(good))
        if st.form_submit_button(loc.t("data.save.button"), type="primary", icon=":material/save:"):
            _save(good, name, currency)


def _guess_currency(good) -> int:
    """The dataset currency defaults from the data: a ₺ or TL in an upload means lira, € euro, else dollars."""
    head = b"".join(d[:200_000] for d, *_ in good)
    text = head.decode("utf-8", errors="ignore") + head.decode("cp1254", errors="ignore")
    if "₺" in text or " TL" in text or "TL\n" in text or "TRY" in text:
        return 0
    return 2 if "€" in text else 1


def _save(good, name: str, currency: str) -> None:
    with st.status(loc.t("data.save.status"), expanded=True) as status:
        try:
            st.write(loc.t("data.save.reading", n=len(good)))
            loaded = load_files([(d, n) for d, n, _, _ in good], overrides={n: (t_, m) for _, n, t_, m in good})
            st.write(loc.t("data.save.storing"))
            dataset_id = store().save_dataset(
                name.strip() or "Upload", loaded.tables, owner=owner_key(),
                mappings={r.file: (r.table, r.mapping) for r in loaded.reports},
                reports=[r.to_dict() for r in loaded.reports], rows=loaded.rows(), currency=currency,
            )
        except LoadError as exc:
            status.update(label=loc.t("data.save.failed"), state="error")
            st.error(loc.t("data.upload.refused", file=exc.file, problem=loc.say(exc.problem)))
            return
        status.update(label=loc.t("data.save.done"), state="complete")
    remember_dataset(dataset_id)
    st.session_state["uploads_saved"] = st.session_state.get("uploads_saved", 0) + 1
    st.session_state["just_saved"] = name.strip() or "Upload"
    st.rerun()


def datasets_section() -> None:
    st.subheader(loc.t("data.datasets.title"))
    mine = store().datasets_for(owner_key())
    if not mine:
        st.caption(loc.t("data.datasets.none"))
    for info in mine:
        cols = st.columns([4, 4, 1], vertical_alignment="center")
        cols[0].markdown(f"**{info.name}** · {loc.datetime(info.created_at)}")
        cols[1].caption(", ".join(f"{loc.t(f'table.{x}')}: {loc.number(info.rows.get(x, {}).get('used'))}"
                                  for x in info.tables))
        if cols[2].button(loc.t("data.datasets.delete"), key=f"del.{info.id}", icon=":material/delete:"):
            store().delete_dataset(info.id, owner_key())
            forget_dataset(info.id)
            st.rerun()


def links_section(dataset_id: str, settings, read_only: bool) -> None:
    st.subheader(loc.t("data.links.title"))
    if read_only:
        st.caption(loc.t("share.read_only"))
        return
    st.caption(loc.t("data.links.intro"))
    pages = [stem for stem, *_ in PAGES if stem != "data" and (HERE / f"{stem}.py").exists()]
    titles = {stem: loc.t(title) for stem, title, _ in PAGES}
    cols = st.columns([2, 2, 1], vertical_alignment="bottom")
    page = cols[0].selectbox(t(loc, "data.links.page", "Opens on"), pages, format_func=titles.get,
                             key="link_page")
    expiry = cols[1].selectbox(loc.t("data.links.expiry"), list(EXPIRY_DAYS),
                               format_func=lambda k: loc.t(f"data.links.expiry.{k}"), key="link_expiry")
    if cols[2].button(loc.t("data.links.create"), type="primary", icon=":material/link:"):
        days = EXPIRY_DAYS[expiry]
        view = view_query(settings, page)
        token = store().create_link(dataset_id, view, timedelta(days=days) if days else None,
                                    created_by=owner_key())
        st.session_state["new_link"] = share_url(_app_url(), token, view)
    if url := st.session_state.get("new_link"):
        st.code(url, language=None, wrap_lines=True)
        st.caption(t(loc, "data.links.copy", "Copy the link with the button at the right of the box. It is "
                                               "shown only now: only its fingerprint is stored."))
    for link in store().links_for(dataset_id, created_by=owner_key()):
        cols = st.columns([3, 4, 1], vertical_alignment="center")
        state = (loc.t("data.links.revoked") if link.revoked_at else
                 loc.t("data.links.expired") if not link.active() else loc.t("data.links.active"))
        until = f" · {loc.t('data.links.until', date=loc.datetime(link.expires_at))}" \
            if link.expires_at and link.active() else ""
        cols[0].markdown(f"{loc.datetime(link.created_at)} · **{state}**{until}")
        cols[1].caption("; ".join(describe_setting(loc, k, v, link_form=False) for k, v in link.view.items())
                        or loc.t("data.links.default_view"))
        if link.active() and cols[2].button(loc.t("data.links.revoke"), key=f"revoke.{link.id}",
                                            icon=":material/link_off:"):
            store().revoke_link(link.id, created_by=owner_key())
            st.rerun()


def _app_url() -> str:
    """The app's root address (st.context.url also holds the current page's path)."""
    url = (st.context.url or "").split("?")[0].rstrip("/")
    return url[: -len("/data")] if url.endswith("/data") else url


with page_guard():
    if error := st.session_state.get("_view_error"):  # a share link that no longer opens: nothing else
        st.warning(error, icon=":material/link_off:")
        st.stop()
    dataset_id, _name, settings, read_only = st.session_state["_view"]
    if not read_only:
        upload_section()
        datasets_section()
    links_section(dataset_id, settings, read_only)
