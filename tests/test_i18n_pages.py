"""Every message the code asks for exists in every language, and no page shows an untranslated string.

Two halves (issue #8):
- a scan of the source: every catalogue key used (`loc.t("key")`, `t(loc, "key", "default")`, `Message("key", …)`,
  keys built with f-strings resolved against the values the code uses) must be in every catalogue with the same
  placeholders, so the inline English default of `t(...)` never reaches a Turkish page;
- every page drawn in Turkish with AppTest on the sample (the Data page after an upload too, and the sidebar):
  every visible string (texts, metric labels and help, widget labels/options/help/placeholders, expander and tab
  labels, table column labels and text cells, plotly titles, axes, legends, trace names, hovers, annotations)
  is checked for English UI messages; and in English for Turkish ones.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from app_harness import scratch_store
from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1 import AppTest

from omni_metrics.charts import ATTRIBUTION_MODELS, CHANNEL_COLOURS
from omni_metrics.html_report import render_html
from omni_metrics.i18n import LANGUAGES, Locale, Message, catalogue
from omni_metrics.report import Settings, build_report
from omni_metrics.schema import EVENT_TYPES, STAGES, TABLE_NAMES
from omni_metrics.store import Store
from omni_metrics.ui_state import PAGES
from pages._shared import NUMBER_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
SOURCES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "omni_metrics").rglob("*.py"))]
PLACEHOLDER = re.compile(r"{(\w+)}")
# The charts that label their figures with `metric.<value>`.
LABELLED = {"trend", "by_channel", "grouped_bars", "rate_lines", "score_over_time", "score_with_moe"}
KINDS = {"text", "count", "money", "rate", "score", "ratio", "days"}


# --- the source scan --------------------------------------------------------------------------------------

def _literal(path: Path, name: str):
    """A module-level constant of a file that cannot be imported (a page runs when imported)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in {path}")


def _metric_columns() -> set[str]:
    """Every column the pages and charts label with `metric.<column>`: the keys of the pages' {column: kind}
    tables and the figures they chart (value=, values=, secondary=, columns=, and charts' own loops)."""
    names: set[str] = set()
    for path in [*(ROOT / "pages").glob("*.py"), ROOT / "omni_metrics" / "charts.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict) and len(node.keys) > 1 and all(
                    isinstance(k, ast.Constant) and isinstance(v, ast.Constant) and v.value in KINDS
                    for k, v in zip(node.keys, node.values, strict=True)):
                names |= {k.value for k in node.keys}
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LABELLED:
                for kw in node.keywords:
                    if kw.arg in ("value", "values", "secondary", "columns"):
                        consts = kw.value.elts if isinstance(kw.value, ast.List | ast.Tuple) else [kw.value]
                        names |= {c.value for c in consts if isinstance(c, ast.Constant) and isinstance(c.value, str)}
            elif isinstance(node, ast.For) and isinstance(node.iter, ast.Tuple) and path.name == "charts.py":
                names |= {c.value for c in node.iter.elts if isinstance(c, ast.Constant)}
    tiles = _literal(ROOT / "pages" / "overview.py", "TILES")
    return names | {k for k, *_ in tiles} | set(_literal(ROOT / "pages" / "overview.py", "TREND_KINDS"))


def _rfm_segments() -> set[str]:
    return set(re.findall(r'pl\.lit\("([^"]+)"\)', (ROOT / "omni_metrics" / "metrics" / "rfm.py").read_text()))


def _set_aside_reasons() -> set[str]:
    """The reason codes loading._reasons gives a row it sets aside: the second item of its (condition, code) pairs."""
    tree = ast.parse((ROOT / "omni_metrics" / "loading.py").read_text(encoding="utf-8"))
    (function,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_reasons"]
    return {n.elts[1].value for n in ast.walk(function) if isinstance(n, ast.Tuple) and len(n.elts) == 2
            and isinstance(n.elts[1], ast.Constant) and isinstance(n.elts[1].value, str)}


def _templates() -> dict[str, set[str]]:
    """What each f-string key (its placeholders written `{}`) is filled with somewhere in the code."""
    tiles = [k for k, *_ in _literal(ROOT / "pages" / "overview.py", "TILES")]
    return {
        "metric.{}": _metric_columns(),
        "help.{}": set(tiles) - {"omnichannel_premium"} | {"omnichannel_premium"},
        "table.{}": set(TABLE_NAMES),
        "stage.{}": set(STAGES),
        "period.{}": {"week", "month", "quarter"},
        "channel.{}": set(CHANNEL_COLOURS) - {"unknown"},
        "band.{}": {"high", "medium", "low"},
        "event.{}": set(EVENT_TYPES),
        "model.{}": set(ATTRIBUTION_MODELS),
        "rfm.{}": _rfm_segments(),
        "setting.{}": {name for name, *_ in NUMBER_SETTINGS},
        "value.{}_title": {"cohort", "acquisition_channel", "n_channels"},
        "data.links.expiry.{}": set(_literal(ROOT / "pages" / "data.py", "EXPIRY_DAYS")),
        "nav.{}": {stem for stem, *_ in PAGES},
        "reason.{}": _set_aside_reasons(),
        # build_report's progress steps, shown in the progress box
        "status.step.{}": set(re.findall(r'say\("([^"]+)"\)', (ROOT / "omni_metrics" / "report.py").read_text())),
        # dialects._numeric_label's words, and the two date_format values that are not patterns
        "load.format.{}": {"Unix epoch seconds", "Unix epoch milliseconds", "Unix epoch microseconds",
                           "Excel serial days", "typed", "none readable"},
    }


def _key_template(node: ast.expr) -> str | None:
    """A key argument as text: a plain string, or an f-string with `{}` for each placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def used_keys() -> list[tuple[str, int, str, str | None]]:
    """(file, line, key or key template, inline English default) for every message the code asks for."""
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            where = (str(path.relative_to(ROOT)), node.lineno)
            if name == "t" and isinstance(func, ast.Attribute):  # loc.t("key"), Locale(...).t("key")
                key, default = _key_template(node.args[0]), None
            elif name == "t" and len(node.args) >= 3:  # pages._shared.t(loc, "key", "English default")
                key, default = _key_template(node.args[1]), _key_template(node.args[2])
            elif name == "Message":  # a loader sentence that carries its key
                key, default = _key_template(node.args[0]), None
            else:
                continue
            if key is not None:
                found.append((*where, key, default))
    return found


def test_the_scan_finds_the_calls():
    """The scan itself: it sees plain keys, f-string keys and the helper's defaults (else it proves nothing)."""
    keys = {k for *_, k, _ in used_keys()}
    assert {"overview.title", "metric.{}", "table.{}", "share.invalid"} <= keys
    assert any(d for *_, d in used_keys())
    assert {"revenue", "aov", "churn_risk", "promoters"} <= _metric_columns()
    assert "Champions" in _rfm_segments()
    assert {"missing_customer_id", "unparseable_date", "score_out_of_range"} <= _set_aside_reasons()


def test_every_key_the_code_uses_is_in_every_catalogue_with_its_placeholders():
    templates = _templates()
    english = catalogue("en")
    problems: list[str] = []
    for file, line, key, default in used_keys():
        if "{}" in key:
            if key not in templates:
                problems.append(f"{file}:{line}: key template {key!r}: add the values it takes to _templates()")
                continue
            keys = [key.replace("{}", value, 1) for value in sorted(templates[key])]
        else:
            keys = [key]
        for k in keys:
            for lang in LANGUAGES:
                if k not in catalogue(lang) and not any(f"{k!r} is not in {lang}" in p for p in problems):
                    problems.append(f"{file}:{line}: {k!r} is not in {lang}.json")
            if default is not None and k in english and \
                    set(PLACEHOLDER.findall(default)) != set(PLACEHOLDER.findall(english[k])):
                problems.append(f"{file}:{line}: {k!r}: the default's placeholders differ from the catalogue's")
    for _, key, _ in PAGES:
        problems += [f"ui_state.PAGES: {key!r} not in {lang}.json" for lang in LANGUAGES if key not in catalogue(lang)]
    assert not problems, "\n".join(problems)


def test_loader_messages_read_as_their_english_text():
    """A Message is its English sentence; shown through the English catalogue it reads the same."""
    note = Message("load.blank_lines", "1,234 blank line(s) skipped", n=1234)
    assert note == "1,234 blank line(s) skipped"
    assert Locale("en").say(note) == note
    assert Locale("tr").say(note) == "1.234 boş satır atlandı"
    assert Locale("tr").say("a plain sentence") == "a plain sentence"


# --- what the pages show ----------------------------------------------------------------------------------

# Plotly keys that hold no words a reader sees (or the whole template, which is Plotly's own).
SKIP_FIGURE_KEYS = {"template", "color", "colorscale", "family", "type", "mode", "tickformat", "textposition",
                    "insidetextanchor", "xref", "yref", "xanchor", "yanchor", "orientation", "arrangement",
                    "barmode", "autorange", "rangemode", "side", "line_dash", "dash", "visible", "meta",
                    "separators", "texttemplate", "hoverinfo", "xaxis", "yaxis", "marker", "line", "error_y",
                    "x", "y", "z", "overlaying", "legendgroup", "uid", "tickprefix"}
KEEP_AXIS = {"title"}
# Proto fields that are not shown: ids, icons, formats, urls.
SKIP_PROTO_KEYS = {"id", "formId", "icon", "url", "format", "arrowData", "deferredFileId", "type", "tag",
                   "elementType", "theme", "labelVisibility", "spec", "columns", "step", "min", "max", "default",
                   "value", "rawValue", "rawValues", "setValue", "widthConfig", "heightConfig", "gapConfig",
                   "direction", "color", "selectionMode", "useContainerWidth", "width", "height", "columnOrder",
                   "align", "flexContainer"}
# Words of an English sentence, for strings that are not in the catalogue at all (the loader's and the report's).
ENGLISH = {"the", "to", "of", "and", "or", "is", "are", "with", "for", "not", "no", "in", "see", "be", "by", "from",
           "as", "a", "an", "it", "has", "have", "only", "this", "these", "upload", "row(s)", "rows", "read", "kept",
           "left", "days", "day", "order", "orders", "customer", "customers", "contact", "touches", "last", "was",
           "on", "at", "will", "can", "cannot", "could", "your", "you", "all", "more", "than", "when", "which",
           "what", "their", "them", "they", "some", "each", "other", "others", "file", "files", "table", "column",
           "value", "values", "data", "date", "dates", "set", "aside", "dropped", "used", "unused", "missing",
           "unknown", "skipped", "converted", "defaults", "reset", "words", "first", "spent", "total", "average"}
# Table columns that hold the data's own text (survey comments, customer ids, file headers, paths of channels).
DATA_COLUMNS = {"comment", "customer_id", "header", "Header", "path", "column"}


def _strings(value, path: str):
    """(where, text) for every string in a JSON-like value, skipping keys that are never shown."""
    if isinstance(value, str):
        if value.startswith(("{", "[")):
            try:
                yield from _strings(json.loads(value), path)
                return
            except ValueError:
                pass
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item, path)


def _figure_strings(spec: dict, path: str):
    layout = spec.get("layout", {})
    for key, item in layout.items():
        if key.startswith(("xaxis", "yaxis")):
            yield from _strings({k: v for k, v in item.items() if k in KEEP_AXIS}, f"{path}.layout.{key}")
        elif key not in SKIP_FIGURE_KEYS:
            yield from _strings(item, f"{path}.layout.{key}")
    for i, trace in enumerate(spec.get("data", [])):
        where = f"{path}.trace[{i}]"
        for key, item in trace.items():
            if key in ("x", "y") and trace.get("type") in ("bar", "heatmap", "scatter") and any(
                    isinstance(v, str) for v in (item if isinstance(item, list) else [])):
                yield from _strings([v for v in item if isinstance(v, str) and not re.fullmatch(r"[\d-]+", v)],
                                    f"{where}.{key}")
            elif key == "node":
                yield from _strings(item.get("label", []), f"{where}.node.label")
            elif key == "link":
                yield from _strings({k: v for k, v in item.items() if k in ("hovertemplate", "customdata")},
                                    f"{where}.link")
            elif key not in SKIP_FIGURE_KEYS:
                yield from _strings(item, f"{where}.{key}")


def visible(at: AppTest) -> list[tuple[str, str]]:
    """(element, text) for everything a reader of the page sees, the sidebar included."""
    out: list[tuple[str, str]] = []

    def walk(node, path: str) -> None:
        proto = getattr(node, "proto", None)
        kind = getattr(node, "type", type(node).__name__)
        where = f"{path}/{kind}"
        if proto is not None:
            fields = MessageToDict(proto)
            if "-map." in fields.get("id", ""):  # the mapping editor offers the file's own headers
                fields.pop("options", None)
            out.extend(_strings({k: v for k, v in fields.items() if k not in SKIP_PROTO_KEYS}, where))
            if kind == "plotly_chart":
                out.extend(_figure_strings(json.loads(proto.spec), where))
            if kind in ("dataframe", "arrow_data_frame"):
                config = json.loads(proto.columns or "{}")
                labels = {c: (cfg.get("label") or c) for c, cfg in config.items()}
                out.extend((f"{where}[{labels[c]}].format", cfg["type_config"]["format"]) for c, cfg in config.items()
                           if (cfg.get("type_config") or {}).get("format"))
                frame = node.value
                out.extend((f"{where}.column", labels.get(str(c), str(c))) for c in frame.columns
                           if str(c) != "" and not str(c).startswith("_"))
                for c in frame.columns:
                    if str(c) not in DATA_COLUMNS:
                        out.extend((f"{where}[{labels.get(str(c), c)}]", v) for v in set(frame[c].dropna())
                                   if isinstance(v, str))
        for i, child in getattr(node, "children", {}).items():
            walk(child, f"{path}/{i}" if path else str(i))

    walk(at._tree, "")
    return [(w, s) for w, s in out if s.strip()]


def _pattern(text: str) -> re.Pattern:
    parts = PLACEHOLDER.split(text)  # literal, name, literal, name, …
    return re.compile(".+?".join(re.escape(p) for p in parts[::2]), re.DOTALL)


def _words(text: str) -> int:
    return len(re.findall(r"[^\W\d_]{2,}", PLACEHOLDER.sub("", text)))


def foreign_messages(shown_lang: str, other_lang: str):
    """The messages of `other_lang` that must not appear on a page in `shown_lang`: those whose text differs
    in the two languages, with two words or more outside placeholders (one-word labels compared whole)."""
    shown, other = catalogue(shown_lang), catalogue(other_lang)
    ours = set(shown.values())
    phrases, words = [], set()
    for key, text in other.items():
        if text == shown[key] or text in ours:
            continue
        if _words(text) >= 2:
            phrases.append((key, text, _pattern(text)))
        elif _words(text) == 1 and not PLACEHOLDER.search(text):
            words.add(text)
    return phrases, words


def _english_sentence(text: str) -> str | None:
    """A part of the text (a line, a clause after a colon) that reads as English: three words or more, two
    of them common English words, and no Turkish word."""
    for part in re.split(r"[\n:;•]", text):
        tokens = re.findall(r"[a-z_()]+", part.lower())  # `customer_id` is a column's name, not English
        if len(tokens) >= 3 and len({w for w in tokens if w in ENGLISH}) >= 2 and \
                not re.search(r"[a-zçğıöşü]*[çğışöü][a-zçğıöşü]*[a-zçğıöşü]", part.lower()):
            return f"an English sentence: {part.strip()!r}"
    return None


def untranslated(pages: dict[str, list[tuple[str, str]]], lang: str) -> list[str]:
    """Everything a page in `lang` shows that is a message of the other language (or an English sentence
    that never went through the catalogue), as `page · element · string`."""
    other = "en" if lang == "tr" else "tr"
    phrases, words = foreign_messages(lang, other)
    keys = set(catalogue("en"))
    found = []
    for page, texts in pages.items():
        for where, text in texts:
            why = None
            if text.strip() in words:
                why = f"the {other} word {text.strip()!r}"
            elif text.strip() in keys:
                why = "a raw catalogue key"
            else:
                for key, _message, pattern in phrases:
                    if pattern.search(text):
                        why = f"{other} message {key!r}"
                        break
            if why is None and lang == "tr" and not any(where.endswith(f"[{c}]") for c in DATA_COLUMNS):
                why = _english_sentence(text)
            if why:
                found.append(f"{page} · {where} · {text!r} ({why})")
    return found


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    # st.navigation mode, so a click on the Data page is not lost (see app_harness.keep_navigation_mode)
    with scratch_store(tmp_path_factory.mktemp("omni_i18n"), navigation=True) as path:
        yield path


def _upload(at: AppTest) -> AppTest:
    """Every sample export and one file no table fits, on the Data page: the load reports, notes, a refusal."""
    files = [(p.name, p.read_bytes(), "text/csv") for p in sorted((ROOT / "sample_data").iterdir())
             if p.suffix in (".csv", ".gz")]
    files.append(("mystery.csv", b"colour,size\nred,3\nblue,4\n", "text/csv"))
    # Rows the loader sets aside (no customer, a date it cannot read): the reasons in the load report.
    files.append(("bad_rows.csv", b"order_id,customer_id,timestamp,revenue,channel\n1,c1,2024-01-05,10.5,web\n"
                                  b"2,,2024-01-06,3,web\n3,c3,someday,4,store\n4,c4,2024-01-07,5,store\n", "text/csv"))
    return at.file_uploader[0].set_value(files).run()


def render_all(lang: str) -> dict[str, list[tuple[str, str]]]:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["lang"] = lang
    at.run()
    shown = {}
    for stem, *_ in PAGES:
        at.switch_page(f"pages/{stem}.py").run()
        assert not at.exception, (stem, [e.value for e in at.exception])
        shown[stem] = visible(at)
    at.switch_page("pages/data.py").run()
    _upload(at)
    assert not at.exception
    shown["data (after an upload)"] = visible(at)
    # Saved as a dataset (the list of datasets), then a share link to a page for 7 days (the list of links).
    (save,) = [b for b in at.button if b.label == catalogue(lang)["data.save.button"]]
    save.click().run()
    at.selectbox(key="link_expiry").set_value("7")
    at.selectbox(key="link_page").set_value("silence").run()
    (create,) = [b for b in at.button if b.label == catalogue(lang)["data.links.create"]]
    create.click().run()
    assert not at.exception and at.code, [e.value for e in at.exception]
    shown["data (saved, shared)"] = visible(at)
    return shown


def render_orders_only(lang: str) -> dict[str, list[tuple[str, str]]]:
    """A dataset of a few orders and nothing else, every page: the report's sentences on missing tables and on
    models that cannot be fitted (too short a history), which the sample never shows."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["lang"] = lang
    at.run()
    at.switch_page("pages/data.py").run()
    orders = b"order_id,customer_id,timestamp,revenue,channel\n" + b"".join(
        f"{i},c{i % 7},2024-01-{1 + i % 20:02d},{10 + i}.5,{'web' if i % 2 else 'store'}\n".encode() for i in range(40))
    at.file_uploader[0].set_value([("orders.csv", orders, "text/csv")]).run()
    (save,) = [b for b in at.button if b.label == catalogue(lang)["data.save.button"]]
    save.click().run()
    shown = {}
    for stem, *_ in PAGES:
        at.switch_page(f"pages/{stem}.py").run()
        assert not at.exception, (stem, [e.value for e in at.exception])
        shown[f"{stem} (orders only)"] = visible(at)
    return shown


@pytest.fixture(scope="module")
def turkish(data_dir):
    return render_all("tr") | render_orders_only("tr")


def test_the_checker_finds_an_english_string_in_a_turkish_page(turkish):
    """The checker itself: an English message, a raw key and a loader sentence on a Turkish page are caught."""
    english = catalogue("en")
    planted = {"overview": [("x/caption", english["channels.no_spend"]), ("x/metric.label", "metric.revenue"),
                            ("x/caption", english["metric.revenue"]),
                            ("x/caption", "Özet  \n• 3 row(s) set aside: missing customer_id (3)")]}
    found = untranslated(planted, "tr")
    assert len(found) == 4, found
    assert found[0].startswith("overview · x/caption · ")
    assert untranslated({"overview": [("x/caption", catalogue("tr")["channels.no_spend"])]}, "tr") == []


def test_no_page_shows_an_untranslated_string_in_turkish(turkish):
    assert set(turkish) == {stem for stem, *_ in PAGES} | {"data (after an upload)", "data (saved, shared)"} | {
        f"{stem} (orders only)" for stem, *_ in PAGES}
    # The orders-only dataset shows the report's own sentences (a missing table, a model it cannot fit).
    overview = " ".join(t for _, t in turkish["overview (orders only)"])
    assert catalogue("tr")["sentence.missing_surveys"] in overview, overview[:2000]
    assert all(len(texts) > 5 for texts in turkish.values()), {p: len(t) for p, t in turkish.items()}
    found = untranslated(turkish, "tr")
    assert not found, "\n".join(found)


def test_no_page_shows_a_turkish_string_in_english(data_dir):
    found = untranslated(render_all("en") | render_orders_only("en"), "en")
    assert not found, "\n".join(found)


def test_turkish_pages_write_numbers_and_dates_the_turkish_way(turkish):
    """Hovers and table cells in Turkish mode: `1.234,56`, `%12,5`, `05.03.2024` — never `1,234.56`, `12.5%`,
    `2024-03-05` (dates in a period label such as `2025-11` are periods, not dates)."""
    english_number = re.compile(r"(?<![\d.,])[1-9]\d{0,2}(,\d{3})+(?![\d,])|\d\.\d+%|(?<![\d.])\d+(\.\d+)?%|\b\d{4}-\d{2}-\d{2}\b")
    found = [f"{page} · {where} · {text!r}" for page, texts in turkish.items() for where, text in texts
             if english_number.search(text) and not where.endswith(("hovertemplate", "format"))]
    assert not found, "\n".join(found)
    # Date columns the browser draws: in the Turkish day-first pattern too.
    iso = [f"{page} · {where} · {text!r}" for page, texts in turkish.items() for where, text in texts
           if where.endswith(".format") and "YYYY-MM-DD" in text]
    assert not iso, "\n".join(iso)


class _Text(HTMLParser):
    """The text a reader of an HTML page sees (scripts and styles left out)."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data.strip())


def test_the_html_report_in_turkish_has_no_english_message(data_dir):
    """The report to send (issue #8) in Turkish: its headings, tiles, notes, filters, tables and figures."""
    store = Store(data_dir=data_dir)
    tables = store.load_tables(store.sample_dataset_id())
    settings = Settings(channels=("web", "store"), start=dt.date(2024, 3, 1), period="week", silence_factor=2.5)
    loc = Locale("tr", "TRY")
    report = build_report(tables, settings)
    parser = _Text()
    parser.feed(render_html(report, loc, catalogue("en")["sidebar.sample_name"]))
    texts = [("html", t) for t in parser.texts]
    for i, spec in enumerate(re.findall(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displaylogo"',
                                        render_html(report, loc), re.DOTALL)):
        texts += _figure_strings({"data": json.loads(spec[0]), "layout": json.loads(spec[1])}, f"figure[{i}]")
    assert any("Kanallar: Web, Mağaza" in t for _, t in texts), texts[:5]
    assert any(t.startswith("Başlangıç: 01.03.2024") or "Başlangıç: 01.03.2024" in t for _, t in texts)
    assert sum(w.startswith("figure") for w, _ in texts) > 20  # the figures were read
    found = untranslated({"html report": texts}, "tr")
    assert not found, "\n".join(found)


def _source_strings(paths) -> set[str]:
    """Every string literal of some files, f-strings with `{}` for each placeholder."""
    out = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (text := _key_template(node)) is not None:
                out.add(text)
    return out


def test_the_report_sentences_the_ui_translates_are_the_ones_the_report_writes():
    """`Locale.say` recognises the report's and the models' plain English sentences by the English catalogue's
    `sentence.*` texts: each must be, word for word, a string the code writes (else it would stay English)."""
    written = _source_strings([ROOT / "omni_metrics" / "report.py", *(ROOT / "omni_metrics" / "metrics").glob("*.py")])
    stale = [f"{key}: {text!r}" for key, text in catalogue("en").items()
             if key.startswith("sentence.") and PLACEHOLDER.sub("{}", text) not in written]
    assert not stale, "\n".join(stale)


def test_every_churn_reason_is_translated():
    """The churn model's reasons (`no contact for 40 days`…) for every feature, singular and plural."""
    from omni_metrics.metrics.churn import FEATURES, _in_words

    loc = Locale("tr")
    reasons = {_in_words(feature, value) for feature in FEATURES for value in (0.0, 1.0, 2.0, 1234.4)} - {""}
    assert len(reasons) > 20
    untranslated_reasons = [r for r in reasons if loc.say(r) == r]
    assert not untranslated_reasons, untranslated_reasons
    assert loc.say("spent 1,234 in total") == "toplam 1.234 harcadı"
