"""The app shell and the Data page in AppTest: opens on the sample, several messy exports uploaded at once."""

from __future__ import annotations

from pathlib import Path

import app_harness
from app_harness import messages, open_app

from omni_metrics.i18n import Locale
from omni_metrics.sample import generate, write_exports
from omni_metrics.store import Store

app_env = app_harness.app_env  # the fixture, made visible to pytest in this module
EN = Locale("en")


def test_app_opens_on_the_sample(app_env):
    at = open_app()
    assert not at.exception, at.exception
    assert not messages(at)
    dataset_id, name, settings, read_only = at.session_state["_view"]
    assert dataset_id.startswith("sample-") and not read_only
    assert at.sidebar.selectbox[0].label == EN.t("sidebar.dataset")
    assert len(at.metric) >= 6  # the Overview tiles
    # The sample is one stored dataset, owned by nobody who could delete it.
    store = Store(data_dir=app_env / "omni")
    assert store.dataset(dataset_id).owner == "sample"
    assert dict(at.query_params) == {}  # the default view needs no parameters


def test_upload_several_messy_exports_with_a_wrong_file(app_env):
    exports = write_exports(generate(customers=150, seed=3), app_env / "exports", messy=True)
    files = [(p.name, p.read_bytes(), "text/csv") for p in exports]
    files.append(("notes.csv", b"foo,bar\n1,2\n", "text/csv"))

    at = open_app(page="data")
    assert not at.exception and not messages(at)
    at.file_uploader[0].set_value(files).run()
    assert not at.exception, at.exception

    # Each good file says which table it was read as; the wrong one is refused with the loader's message.
    titles = [e.label for e in at.expander]
    for path in exports:
        assert any(t.startswith(f"**{path.name}** → ") for t in titles), (path.name, titles)
    assert "**notes.csv**" in titles
    refusal = [m for m in messages(at) if m.startswith("notes.csv was not loaded")]
    assert refusal and "cannot tell which table" in refusal[0]

    # The proposed mapping and the load report are on the page (a mapping table and a report per good file).
    shown = [d.value for d in at.dataframe]
    mappings = [d for d in shown if list(d.columns) == ["column", "header"]]
    assert len(mappings) == len(exports)
    assert any("customer_id" in d["column"].tolist() for d in mappings)
    reports = [d for d in shown if list(d.columns) == ["item", "value"]]
    assert any(EN.t("data.report.encoding") in d["item"].tolist() for d in reports)
    # The mapping can be corrected: one selectbox per canonical column of the table, in each file's editor.
    assert any(s.key and s.key.startswith("map.") for s in at.selectbox)

    # Save: the good files become one dataset that this browser now looks at; the wrong one is left out.
    at.text_input[0].set_value("My shop")
    next(b for b in at.button if b.label == EN.t("data.save.button")).click().run()
    assert not at.exception, at.exception
    dataset_id, name, _, read_only = at.session_state["_view"]
    assert name == "My shop" and not read_only
    assert dict(at.query_params) == {"ds": dataset_id}
    store = Store(data_dir=app_env / "omni")
    info = store.dataset(dataset_id)
    assert set(info.tables) == {"interactions", "orders", "surveys", "spend", "customers"}
    assert "notes.csv" not in {r["file"] for r in info.reports}
    assert set(store.mappings(dataset_id)) == {p.name for p in exports}

    # A reload (a new session with the same address) reopens it, and still owns it: it can be deleted.
    again = open_app({"ds": dataset_id}, page="data")
    assert again.session_state["_view"][0] == dataset_id
    delete = next(b for b in again.button if b.key == f"del.{dataset_id}")
    delete.click().run()
    assert not again.exception
    assert store.dataset(dataset_id) is None
    assert again.session_state["_view"][0].startswith("sample-")


def test_a_made_up_dataset_id_opens_the_sample(app_env):
    at = open_app({"ds": "not-a-dataset"})
    assert not at.exception and not messages(at)
    assert at.session_state["_view"][0].startswith("sample-")


def test_a_bad_setting_in_the_url_is_ignored_not_shown_as_an_error(app_env):
    at = open_app({"session_gap_minutes": "lots", "period": "fortnight", "silence_factor": "99"})
    assert not at.exception and not messages(at)
    settings = at.session_state["_view"][2]
    # Unparseable → default; out of range (1..10) → brought inside the range.
    assert (settings.session_gap_minutes, settings.period, settings.silence_factor) == (30, "month", 10.0)


def test_csv_download_of_set_aside_rows(app_env):
    path = Path(app_env) / "orders.csv"
    path.write_text("order_id,customer_id,timestamp,channel,revenue\n1,c1,2024-01-02,web,10\n"
                    "2,c2,not a date,web,5\n=cmd,c3,2024-01-03,web,7\n", encoding="utf-8")
    at = open_app(page="data")
    at.file_uploader[0].set_value([(path.name, path.read_bytes(), "text/csv")]).run()
    assert not at.exception
    aside = [b for b in at.get("download_button") if b.proto.label == EN.t("data.upload.download_aside")]
    assert len(aside) == 1


def test_table_and_mapping_can_be_corrected(app_env):
    path = Path(app_env) / "pos.csv"
    # Two date-like columns: the loader proposes `Tarih`; the user says the order time is `Teslim`.
    path.write_text("Sipariş No;Müşteri No;Tarih;Teslim;Kanal;Tutar;Durum\n"
                    "1;c1;02.01.2024 10:00;05.01.2024 12:00;mağaza;10,50;tamamlandı\n"
                    "2;c2;03.01.2024 11:00;06.01.2024 09:30;web;5,00;tamamlandı\n", encoding="utf-8")
    at = open_app(page="data")
    at.file_uploader[0].set_value([(path.name, path.read_bytes(), "text/csv")]).run()
    assert not at.exception and not messages(at)
    mapping = next(d.value for d in at.dataframe if list(d.value.columns) == ["column", "header"])
    assert dict(zip(mapping["column"], mapping["header"], strict=True))["timestamp"] == "Tarih"

    at.selectbox(key="map.pos.csv.orders.timestamp").set_value("Teslim")
    at.selectbox(key="map.pos.csv.orders.status").set_value("—")
    next(b for b in at.button if b.key == "FormSubmitter:mapping_form.pos.csv-Apply").click().run()
    assert not at.exception and not messages(at)
    mapping = next(d.value for d in at.dataframe if list(d.value.columns) == ["column", "header"])
    chosen = dict(zip(mapping["column"], mapping["header"], strict=True))
    assert chosen["timestamp"] == "Teslim" and "status" not in chosen

    # Another table that the file cannot be: refused with the loader's reason, and nothing to save.
    at.selectbox(key="pick_table.pos.csv").set_value("surveys").run()
    assert not at.exception
    (refusal,) = [m for m in messages(at) if m.startswith("pos.csv was not loaded")]
    assert "score" in refusal
    assert not [b for b in at.button if b.label == EN.t("data.save.button")]


def test_a_dataset_whose_files_are_gone_gives_a_plain_message(app_env):
    import shutil

    store = Store(data_dir=app_env / "omni")
    dataset_id = store.save_dataset("Gone", generate(customers=50, seed=1), owner="me")
    shutil.rmtree(app_env / "omni" / "datasets" / dataset_id)
    at = open_app({"ds": dataset_id})
    assert not at.exception
    (message,) = messages(at)
    assert message.startswith("The dashboard could not open its data") and len(at.metric) == 0
    # The picker is still there to go back to the sample.
    assert at.sidebar.selectbox[0].value == dataset_id
