"""The loader against real files written by each test: every rule of spec/DATA.md."""

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import date, datetime

import polars as pl
import pytest

from omni_metrics.loading import (
    SUPPORTED_SUFFIXES,
    LoadError,
    detect_table,
    load_file,
    load_files,
    propose_mapping,
)
from omni_metrics.schema import SET_ASIDE_REASONS, TABLES

ORDERS_CSV = (
    "order_id,customer_id,timestamp,channel,revenue\n"
    "A1,00123,2024-03-14 10:00:00,web,10.50\n"
    "A2,123,2024-03-15 11:30:00,Mağaza,20\n"
)


def write(tmp_path, name: str, data: bytes | str, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


def load(tmp_path, name: str, data: bytes | str, encoding: str = "utf-8", **kw):
    return load_file(write(tmp_path, name, data, encoding), **kw)


def invariant(report) -> None:
    assert report.rows_read == report.rows_used + sum(report.set_aside.values()) + report.duplicates_dropped


# --- the canonical frame --------------------------------------------------------------------------------

def test_orders_load_to_the_canonical_frame_in_file_order(tmp_path):
    result = load(tmp_path, "orders.csv", ORDERS_CSV)
    assert result.table == "orders"
    assert result.frame.schema == pl.Schema(TABLES["orders"].dtypes)
    assert result.frame.rows() == [
        ("A1", "00123", datetime(2024, 3, 14, 10), "web", 10.5, "completed", None),
        ("A2", "123", datetime(2024, 3, 15, 11, 30), "store", 20.0, "completed", None),
    ]
    r = result.report
    assert (r.encoding, r.delimiter, r.rows_read, r.rows_used, r.set_aside) == ("utf-8", ",", 2, 2, {})
    assert r.mapping == {"order_id": "order_id", "customer_id": "customer_id", "timestamp": "timestamp",
                         "channel": "channel", "revenue": "revenue"}
    invariant(r)


def test_ids_are_strings_trimmed_and_otherwise_exact(tmp_path):
    csv = "customer_id,timestamp,channel,event_type,session_id\n" \
          " 00123 ,2024-01-01,web,visit,007\n123,2024-01-01,web,visit,7.0\n1e3,2024-01-01,web,visit,\n"
    frame = load(tmp_path, "touches.csv", csv).frame
    assert frame["customer_id"].to_list() == ["00123", "123", "1e3"]
    assert frame["session_id"].to_list() == ["007", "7.0", None]


@pytest.mark.parametrize("marker", ["", "N/A", "NA", "NaN", "null", "NULL", "-", "  n/a  ".strip(), " - "])
def test_missing_markers_are_empty(tmp_path, marker):
    csv = f"customer_id,segment,region\nC1,{marker},Ankara\n"
    frame = load(tmp_path, "customers.csv", csv).frame
    assert frame["segment"].to_list() == ([None] if marker.strip() in ("", "N/A", "NA", "NaN", "null", "NULL", "-")
                                          else [marker])


def test_names_are_normalised_and_folded(tmp_path):
    csv = ("customer_id,timestamp,channel,event_type\n"
           "1,2024-01-01,  Web  Sitesi ,Add To Cart\n"
           "1,2024-01-01,MAĞAZA,Store-Visit\n"
           "1,2024-01-01,WhatsApp,Kampanya Tıklama\n"
           "1,2024-01-01,Çağrı Merkezi,Purchase\n")
    result = load(tmp_path, "touches.csv", csv)
    assert result.frame["channel"].to_list() == ["web", "store", "whatsapp", "support"]
    assert result.frame["event_type"].to_list() == ["add_to_cart", "store_visit", "kampanya_tiklama", "purchase"]
    notes = " | ".join(result.report.notes)
    assert "whatsapp (1)" in notes and "kampanya_tiklama (1)" in notes


def test_statuses_fold_turkish_labels_and_list_unknown_ones(tmp_path):
    csv = ("Sipariş No;Müşteri No;Tarih;Kanal;Tutar;Durum\n"
           "1;C1;14.03.2024;Mağaza;10;Tamamlandı\n"
           "2;C1;14.03.2024;Mağaza;10;İptal Edildi\n"
           "3;C1;14.03.2024;Mağaza;10;iade\n"
           "4;C1;14.03.2024;Mağaza;10;\n"
           "5;C1;14.03.2024;Mağaza;10;On Hold\n"
           "6;C1;14.03.2024;Mağaza;10;on hold\n"
           "7;C1;14.03.2024;Mağaza;10;Refunded\n")
    result = load(tmp_path, "pos.csv", csv)
    assert result.frame["status"].to_list() == ["completed", "cancelled", "returned", "completed", "on_hold",
                                                "on_hold", "refunded"]
    assert "2 unknown status values kept: on_hold (2)" in result.report.notes


def test_surveys_fill_type_and_channel_and_check_ranges(tmp_path):
    csv = ("Tarih,Puan,Anket,Kanal\n"
           "2024-01-01,10,NPS,web\n"
           "2024-01-02,0,,\n"
           "2024-01-03,5,csat,store\n"
           "2024-01-04,6,CSAT,store\n"  # CSAT is 1–5: out of range
           "2024-01-05,11,nps,web\n"  # NPS is 0–10: out of range
           "2024-01-06,7.5,nps,web\n"  # not a whole score
           "2024-01-07,abc,nps,web\n"
           "2024-01-08,42,ces,web\n")  # another survey type: kept, no range
    result = load(tmp_path, "survey.csv", csv)
    assert result.table == "surveys"
    assert result.frame.select("score", "survey_type", "channel").rows() == [
        (10, "nps", "web"), (0, "nps", "unknown"), (5, "csat", "store"), (42, "ces", "web")]
    assert result.report.set_aside == {"score_out_of_range": 2, "non_numeric_score": 2}
    invariant(result.report)


# --- headers --------------------------------------------------------------------------------------------

def test_turkish_headers_map_as_turkish_exports_write_them():
    headers = ["Sipariş No", "Müşteri No", "Tarih", "Kanal", "Tutar", "Durum"]
    assert detect_table(headers) == "orders"
    assert propose_mapping("orders", headers) == {
        "order_id": "Sipariş No", "customer_id": "Müşteri No", "timestamp": "Tarih", "channel": "Kanal",
        "revenue": "Tutar", "status": "Durum"}
    assert propose_mapping("surveys", ["TARİH", "puan", "musteri_id"]) == {
        "timestamp": "TARİH", "score": "puan", "customer_id": "musteri_id"}
    assert detect_table(["customerId", "  Event Time ", "CHANNEL", "event"]) == "interactions"


def test_five_files_at_once_are_recognised_from_their_headers(tmp_path):
    files = [
        write(tmp_path, "a.csv", "Müşteri No;Tarih;Kanal;Olay\n1;14.03.2024;Web;Visit\n"),
        write(tmp_path, "b.csv", "Order Number,Customer ID,Order Date,Sales Channel,Order Total\n1,1,2024-03-14,Web,5\n"),
        write(tmp_path, "c.csv", "Response Date,Customer ID,Score,Survey\n2024-03-14,1,9,NPS\n"),
        write(tmp_path, "d.csv", "Date,Channel,Spend,Impressions\n2024-03-14,Social,12.5,1000\n"),
        write(tmp_path, "e.csv", "Customer ID,Segment,City,Loyalty Tier\n1,VIP,İzmir,Gold\n"),
    ]
    loaded = load_files(files)
    assert [r.table for r in loaded.reports] == ["interactions", "orders", "surveys", "spend", "customers"]
    assert loaded.tables["customers"].columns == ["customer_id", "segment", "region", "signup_date", "Loyalty Tier"]
    assert loaded.tables["spend"].row(0) == (date(2024, 3, 14), "social", 12.5, None, 1000.0, None)


def test_missing_required_column_lists_columns_found_and_aliases_accepted(tmp_path):
    path = write(tmp_path, "orders.csv", "order_id,customer_id,timestamp,revenue\n1,1,2024-01-01,5\n")
    with pytest.raises(LoadError) as err:
        load_file(path, table="orders")
    message = str(err.value)
    assert message.startswith("orders.csv: ")
    assert "channel" in message and "'order_id', 'customer_id', 'timestamp', 'revenue'" in message
    assert "kanal" in message  # an alias accepted


def test_a_header_no_table_fits_is_a_clear_error(tmp_path):
    with pytest.raises(LoadError, match=r"weird\.csv: cannot tell which table .*'foo', 'bar'.*Expected"):
        load(tmp_path, "weird.csv", "foo,bar\n1,2\n")


def test_overrides_choose_table_and_mapping(tmp_path):
    path = write(tmp_path, "x.csv", "who,when,where,what\nC1,2024-01-01,web,visit\n")
    mapping = {"customer_id": "who", "timestamp": "when", "channel": "where", "event_type": "what"}
    loaded = load_files([path], overrides={"x.csv": ("interactions", mapping)})
    assert loaded.tables["interactions"].row(0)[:4] == ("C1", datetime(2024, 1, 1), "web", "visit")
    assert loaded.reports[0].mapping == mapping


# --- encodings ------------------------------------------------------------------------------------------

TURKISH = ("Sipariş No;Müşteri No;Tarih;Kanal;Tutar;Durum\n"
           "1;C1;14.03.2024 10:00;Mağaza;1.234,56;İptal Edildi\n"
           "2;C2;15.03.2024 11:00;Şube;99,90;Tamamlandı\n")


@pytest.mark.parametrize(("codec", "prefix", "expected"), [
    ("utf-8", b"", "utf-8"),
    ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
    ("utf-16-le", b"\xff\xfe", "utf-16-le"),
    ("utf-16-be", b"\xfe\xff", "utf-16-be"),
    ("cp1254", b"", "windows-1254"),
    ("iso-8859-9", b"", "windows-1254"),  # ISO-8859-9 letters are Windows-1254's
])
def test_turkish_text_in_every_encoding_reads_the_same(tmp_path, codec, prefix, expected):
    result = load(tmp_path, "pos.csv", prefix + TURKISH.encode(codec))
    assert result.report.encoding == expected
    assert result.report.mapping["order_id"] == "Sipariş No"
    assert result.frame.select("channel", "revenue", "status").rows() == [
        ("store", 1234.56, "cancelled"), ("store", 99.9, "completed")]


def test_cp1254_bytes_are_not_read_as_cp1252(tmp_path):
    data = "customer_id,segment,region\n1,Sadık Müşteri,Şanlıurfa\n2,Yeni,Iğdır\n".encode("cp1254")
    assert b"\xfd" in data and b"\xde" in data  # ı and Ş: bytes cp1252 reads as ý and Þ
    result = load(tmp_path, "crm.csv", data)
    assert result.report.encoding == "windows-1254"
    assert result.frame["region"].to_list() == ["Şanlıurfa", "Iğdır"]


@pytest.mark.parametrize("text", [
    "customer_id,segment,region\n1,Stammkunde,Düsseldorf\n2,Größte Kunden,Köln\n",
    "customer_id,segment,region\n1,Fidèle,Besançon\n2,Élevé,Orléans\n",
    # Icelandic: ð and þ belong here with á/ó, so cp1252 it stays
    "customer_id,segment,region\n1,Tryggð,Þórshöfn\n2,Nýr,Reykjavík\n",
])
def test_western_text_in_cp1252_stays_cp1252(tmp_path, text):
    result = load(tmp_path, "crm.csv", text.encode("cp1252"))
    assert result.report.encoding == "windows-1252"
    assert result.frame["region"].to_list() == text.splitlines()[1:][0].split(",")[2:] + \
        text.splitlines()[2].split(",")[2:]


# --- delimiters and numbers -----------------------------------------------------------------------------

@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(tmp_path, delimiter):
    rows = [["order_id", "customer_id", "timestamp", "channel", "revenue"],
            ["1", "C1", "2024-01-01", "web", "5"], ["2", "C2", "2024-01-02", "store", "7"]]
    result = load(tmp_path, "o.csv", "\n".join(delimiter.join(r) for r in rows) + "\n")
    assert result.report.delimiter == delimiter
    assert result.frame["revenue"].to_list() == [5.0, 7.0]


def test_quoted_fields_keep_delimiters_inside(tmp_path):
    csv = 'customer_id,segment,region\n1,"Big, loyal","Kadıköy; İstanbul"\n'
    assert load(tmp_path, "c.csv", csv).frame.row(0)[1:3] == ("Big, loyal", "Kadıköy; İstanbul")


def test_decimal_mark_is_decided_per_column(tmp_path):
    # revenue shows `1.234,56` → decimal comma; margin only `12.5` → decimal point, in the same file
    csv = ("order_id;customer_id;timestamp;channel;revenue;margin\n"
           "1;C;2024-01-01;web;1.234,56;12.5\n"
           "2;C;2024-01-01;web;1.250;1.250\n")
    result = load(tmp_path, "o.csv", csv)
    assert result.report.decimal == {"revenue": ",", "margin": "."}
    # 1.250 in revenue (decimal comma) is 1250; in margin (decimal point) it is 1.25
    assert result.frame.select("revenue", "margin").rows() == [(1234.56, 12.5), (1250.0, 1.25)]
    assert "decimal comma in `revenue`" in result.report.notes


@pytest.mark.parametrize(("delimiter", "expected"), [(";", 1250.0), (",", 1.25)])
def test_an_undecidable_column_follows_the_file(tmp_path, delimiter, expected):
    csv = delimiter.join(["order_id", "customer_id", "timestamp", "channel", "revenue"]) + "\n" + \
        delimiter.join(["1", "C", "2024-01-01", "web", '"1.250"']) + "\n"
    result = load(tmp_path, "o.csv", csv)
    assert result.frame["revenue"].to_list() == [expected]
    assert any("cannot be told" in n for n in result.report.notes)


@pytest.mark.parametrize(("text", "value"), [
    ("1.234,56", 1234.56), ("1,234.56", 1234.56), ("1234.56", 1234.56), ("₺1.234,56", 1234.56),
    ("1.234,56 TL", 1234.56), ("1.234,56TL", 1234.56), ("1.234,56 ₺", 1234.56), ("$1,234.56", 1234.56),
    ("1.234,56 €", 1234.56), ("€ 1.234,56", 1234.56), ("1 234,56", 1234.56), ("12,5", 12.5),
    ("1.234.567,8", 1234567.8), ("1,234,567", 1234567.0), ("0", 0.0),
])
def test_money_in_every_spelling_parses(tmp_path, text, value):
    csv = f'order_id,customer_id,timestamp,channel,revenue\n1,C,2024-01-01,web,"{text}"\n'
    assert load(tmp_path, "o.csv", csv).frame["revenue"].to_list() == [value]


# --- dates ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("2024-03-14", datetime(2024, 3, 14)),
    ("2024-03-14T10:05", datetime(2024, 3, 14, 10, 5)),
    ("2024-03-14T10:05:09", datetime(2024, 3, 14, 10, 5, 9)),
    ("2024-03-14T10:05:09.250", datetime(2024, 3, 14, 10, 5, 9, 250000)),
    ("2024-03-14 10:05", datetime(2024, 3, 14, 10, 5)),
    ("2024-03-14 10:05:09", datetime(2024, 3, 14, 10, 5, 9)),
    ("2024-03-14T10:05:09Z", datetime(2024, 3, 14, 10, 5, 9)),
    ("2024-03-14T13:05:09+03:00", datetime(2024, 3, 14, 10, 5, 9)),
    ("2024-03-14T05:05:09-0500", datetime(2024, 3, 14, 10, 5, 9)),
    ("14.03.2024", datetime(2024, 3, 14)),
    ("14.03.2024 10:05", datetime(2024, 3, 14, 10, 5)),
    ("14.03.2024 10:05:09", datetime(2024, 3, 14, 10, 5, 9)),
    ("4.3.2024 10:05", datetime(2024, 3, 4, 10, 5)),
    ("14/03/2024", datetime(2024, 3, 14)),
    ("14/03/2024 10:05", datetime(2024, 3, 14, 10, 5)),
    ("03/14/2024 10:05:09", datetime(2024, 3, 14, 10, 5, 9)),
    ("1710410709", datetime(2024, 3, 14, 10, 5, 9)),  # epoch seconds
    ("1710410709250", datetime(2024, 3, 14, 10, 5, 9, 250000)),  # milliseconds
    ("1710410709250001", datetime(2024, 3, 14, 10, 5, 9, 250001)),  # microseconds
])
def test_every_date_format(tmp_path, text, expected):
    csv = f"customer_id,timestamp,channel,event_type\nC,{text},web,visit\n"
    result = load(tmp_path, "t.csv", csv)
    assert result.frame["timestamp"].to_list() == [expected], result.report.date_format


def test_day_first_when_a_first_field_exceeds_12_and_the_report_says_why(tmp_path):
    csv = "customer_id,Tarih,channel,event_type\nC,03/04/2024,web,visit\nC,14/03/2024,web,visit\n"
    result = load(tmp_path, "t.csv", csv)
    assert result.frame["timestamp"].to_list() == [datetime(2024, 4, 3), datetime(2024, 3, 14)]
    assert "dates in `Tarih` read as day-first: 14/03/2024 cannot be month-first" in result.report.notes


def test_month_first_when_a_second_field_exceeds_12(tmp_path):
    csv = "customer_id,date,channel,event_type\nC,03/04/2024,web,visit\nC,03/14/2024,web,visit\n"
    result = load(tmp_path, "t.csv", csv)
    assert result.frame["timestamp"].to_list() == [datetime(2024, 3, 4), datetime(2024, 3, 14)]
    assert result.report.date_format == {"date": "MM/DD/YYYY"}


def test_still_ambiguous_dates_are_day_first_and_the_loader_says_so(tmp_path):
    csv = "customer_id,date,channel,event_type\nC,03/04/2024,web,visit\nC,05/06/2024,web,visit\n"
    result = load(tmp_path, "t.csv", csv)
    assert result.frame["timestamp"].to_list() == [datetime(2024, 4, 3), datetime(2024, 6, 5)]
    assert any("ambiguous" in n and "day-first" in n for n in result.report.notes)


def test_impossible_dates_are_set_aside_never_rolled_over(tmp_path):
    csv = ("customer_id,timestamp,channel,event_type\n"
           "C,31.02.2024,web,visit\nC,29.02.2024,web,visit\nC,29.02.2023,web,visit\nC,,web,visit\n"
           "C,2024-13-01,web,visit\n")
    result = load(tmp_path, "t.csv", csv)
    assert result.frame["timestamp"].to_list() == [datetime(2024, 2, 29)]
    assert result.report.set_aside == {"unparseable_date": 4}
    assert result.set_aside["row"].to_list() == [1, 3, 4, 5]


def test_offsets_and_epochs_are_converted_to_the_dataset_time_zone(tmp_path):
    # Istanbul is UTC+3 all year: 10:00Z → 13:00; 12:00+01:00 = 11:00Z → 14:00; naive stays as written
    csv = ("customer_id,timestamp,channel,event_type\n"
           "C,2024-03-14T10:00:00Z,web,visit\nC,2024-03-14T12:00:00+01:00,web,visit\n"
           "C,2024-03-14 09:00:00,web,visit\nC,1710410400,web,visit\n")
    result = load(tmp_path, "t.csv", csv, timezone="Europe/Istanbul")
    assert result.frame["timestamp"].to_list() == [
        datetime(2024, 3, 14, 13), datetime(2024, 3, 14, 14), datetime(2024, 3, 14, 9),
        datetime(2024, 3, 14, 13)]  # 1710410400 = 2024-03-14 10:00:00Z
    assert result.frame["timestamp"].dtype == pl.Datetime("us")


def test_unparseable_optional_values_are_left_empty_and_counted(tmp_path):
    csv = ("customer_id,signup_date,segment\n1,14.03.2024,A\n2,someday,B\n3,31.02.2024,C\n4,,D\n")
    result = load(tmp_path, "crm.csv", csv)
    assert result.frame["signup_date"].to_list() == [date(2024, 3, 14), None, None, None]
    assert result.report.rows_used == 4
    assert "signup_date: 2 value(s) unparseable, left empty" in result.report.notes
    assert result.report.emptied == {"signup_date": 2}


# --- containers -----------------------------------------------------------------------------------------

def test_gzip_zip_xlsx_and_parquet(tmp_path):
    xlsxwriter = pytest.importorskip("xlsxwriter")
    csv = ORDERS_CSV.encode()
    paths = [write(tmp_path, "o.csv.gz", gzip.compress(csv))]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export/orders.csv", csv)
    paths.append(write(tmp_path, "o.zip", buffer.getvalue()))
    workbook = xlsxwriter.Workbook(tmp_path / "o.xlsx")
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, ["Order ID", "Customer ID", "Order Date", "Channel", "Revenue"])
    sheet.write_row(1, 0, ["A1", "00123"])
    sheet.write_datetime(1, 2, datetime(2024, 3, 14, 10), workbook.add_format({"num_format": "dd.mm.yyyy hh:mm"}))
    sheet.write_row(1, 3, ["web", 10.5])
    sheet.write_row(2, 0, ["A2", "123", 45366.4791666667, "Mağaza", 20])  # a serial: 2024-03-15 11:30
    workbook.close()
    paths.append(tmp_path / "o.xlsx")
    frame = load_file(paths[0]).frame
    frame.write_parquet(tmp_path / "o.parquet")
    paths.append(tmp_path / "o.parquet")
    for path in paths:
        result = load_file(path)
        assert result.frame.drop("margin").rows() == [
            ("A1", "00123", datetime(2024, 3, 14, 10), "web", 10.5, "completed"),
            ("A2", "123", datetime(2024, 3, 15, 11, 30), "store", 20.0, "completed")], path.name
    assert all(any(p.name.endswith(s) for s in SUPPORTED_SUFFIXES) for p in paths)


def test_zip_with_several_files_is_an_error(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.csv", ORDERS_CSV)
        archive.writestr("b.csv", ORDERS_CSV)
    with pytest.raises(LoadError, match=r"two\.zip: .*a\.csv, b\.csv.*expected exactly one CSV"):
        load(tmp_path, "two.zip", buffer.getvalue())


def test_bytes_with_a_name_load_like_a_file():
    result = load_file(ORDERS_CSV.encode("utf-16"), "upload.csv")
    assert result.report.file == "upload.csv" and result.frame.height == 2


# --- bad input ------------------------------------------------------------------------------------------

def test_every_set_aside_reason_by_its_exact_name(tmp_path):
    files = [
        write(tmp_path, "touches.csv", "customer_id,timestamp,channel,event_type\n"
              "C,2024-01-01,web,visit\n,2024-01-01,web,visit\nC,yesterday,web,visit\n"
              "C,2024-01-01,N/A,visit\nC,2024-01-01,web,\n"),
        write(tmp_path, "orders.csv", "order_id,customer_id,timestamp,channel,revenue\n"
              "1,C,2024-01-01,web,5\n,C,2024-01-01,web,5\n2,C,2024-01-01,web,five\n3,C,2024-01-01,web,\n"
              "4,C,2024-01-01,web,-5\n"),
        write(tmp_path, "survey.csv", "timestamp,score,survey_type\n2024-01-01,9,nps\n2024-01-01,x,nps\n"
              "2024-01-01,0,csat\n"),
        write(tmp_path, "spend.csv", "date,channel,spend\n2024-01-01,web,5\n2024-01-01,web,lots\n"),
    ]
    loaded = load_files(files)
    reasons = set(loaded.set_aside["reason"])
    assert reasons == set(SET_ASIDE_REASONS)
    assert loaded.rows()["orders"] == {"read": 5, "used": 1, "duplicates_dropped": 0, "set_aside": {
        "missing_order_id": 1, "non_numeric_revenue": 2, "negative_revenue": 1}}
    aside = loaded.set_aside.filter(pl.col("file") == "orders.csv")
    assert aside.select("row", "reason", "revenue").rows() == [
        (2, "missing_order_id", "5"), (3, "non_numeric_revenue", "five"), (4, "non_numeric_revenue", None),
        (5, "negative_revenue", "-5")]
    assert loaded.set_aside.columns[:3] == ["file", "row", "reason"]
    for report in loaded.reports:
        invariant(report)


def test_duplicates_last_row_wins_within_and_across_files(tmp_path):
    first = write(tmp_path, "o1.csv", "order_id,customer_id,timestamp,channel,revenue\n"
                  "1,C,2024-01-01,web,1\n2,C,2024-01-01,web,2\n1,C,2024-01-01,web,3\n")
    second = write(tmp_path, "o2.csv", "order_id,customer_id,timestamp,channel,revenue\n"
                   "2,C,2024-01-02,web,20\n3,C,2024-01-01,web,30\n")
    loaded = load_files([first, second])
    # order 1: rows 1 and 3 of o1 → row 3 wins (3.0); order 2: o1 row 2 loses to o2 (20.0)
    assert sorted(loaded.tables["orders"].select("order_id", "revenue").rows()) == [
        ("1", 3.0), ("2", 20.0), ("3", 30.0)]
    r1, r2 = loaded.reports
    assert (r1.rows_read, r1.rows_used, r1.duplicates_dropped) == (3, 1, 2)
    assert (r2.rows_read, r2.rows_used, r2.duplicates_dropped) == (2, 2, 0)
    assert loaded.rows()["orders"] == {"read": 5, "used": 3, "set_aside": {}, "duplicates_dropped": 2}
    invariant(r1)
    invariant(r2)


def test_several_files_of_one_table_stack_with_the_union_of_optional_columns(tmp_path):
    a = write(tmp_path, "a.csv", "customer_id,timestamp,channel,event_type,session_id\nC,2024-01-01,web,visit,S1\n")
    b = write(tmp_path, "b.csv", "customer_id,timestamp,channel,event_type,campaign\nD,2024-01-02,web,visit,K\n")
    frame = load_files([a, b]).tables["interactions"]
    assert frame.columns == list(TABLES["interactions"].dtypes)
    assert frame.select("customer_id", "session_id", "campaign").rows() == [("C", "S1", None), ("D", None, "K")]


def test_customers_across_files_last_wins(tmp_path):
    a = write(tmp_path, "a.csv", "customer_id,segment\n1,A\n2,B\n")
    b = write(tmp_path, "b.csv", "customer_id,segment,tier\n1,Z,Gold\n")
    loaded = load_files([a, b])
    assert loaded.tables["customers"].select("customer_id", "segment", "tier").rows() == [
        ("2", "B", None), ("1", "Z", "Gold")]
    assert loaded.reports[0].duplicates_dropped == 1


def test_header_only_loads_an_empty_table_with_a_notice(tmp_path):
    result = load(tmp_path, "o.csv", "order_id,customer_id,timestamp,channel,revenue\n")
    assert result.frame.height == 0 and result.frame.schema == pl.Schema(TABLES["orders"].dtypes)
    assert any("no rows" in n for n in result.report.notes)


@pytest.mark.parametrize(("data", "problem"), [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"\x00\x01\x02\x03binary\x00\xff" * 50, "binary"),
    (b"1,2024-01-01,web,visit\n2,2024-01-02,web,visit\n", "no header"),
    (b"PK\x03\x04broken", "zip"),
    (b"\x1f\x8bnot really gzip", "gzip"),
])
def test_unusable_files_raise_one_clear_error(tmp_path, data, problem):
    with pytest.raises(LoadError) as err:
        load(tmp_path, "bad.csv", data)
    assert str(err.value).startswith("bad.csv: ") and problem in str(err.value)


def test_too_large_and_missing_files(tmp_path):
    path = write(tmp_path, "o.csv", ORDERS_CSV)
    with pytest.raises(LoadError, match="larger than the limit of 10 bytes"):
        load_file(path, max_bytes=10)
    with pytest.raises(LoadError, match="nope.csv: cannot be opened"):
        load_file(tmp_path / "nope.csv")
    with pytest.raises(LoadError, match="unknown time zone"):
        load_file(path, timezone="Mars/Olympus")


def test_blank_lines_are_skipped_and_said_so(tmp_path):
    result = load(tmp_path, "o.csv", "\n" + ORDERS_CSV + ",,,,\n\n")
    assert result.frame.height == 2 and result.report.rows_read == 2
    assert any("blank line" in n for n in result.report.notes)


def test_load_summary_keys(tmp_path):
    data = load(tmp_path, "o.csv", ORDERS_CSV).report.to_dict()
    for key in ("file", "table", "encoding", "delimiter", "decimal", "date_format", "rows_read", "rows_used",
                "set_aside", "duplicates_dropped", "notes", "mapping", "unused_columns"):
        assert key in data


def test_a_file_forced_onto_the_wrong_table_is_a_clear_error(tmp_path):
    path = write(tmp_path, "orders.csv", ORDERS_CSV)
    with pytest.raises(LoadError, match=r"orders\.csv: required column\(s\) score of the surveys table not found"):
        load_files([path], overrides={"orders.csv": "surveys"})
    with pytest.raises(LoadError, match=r"orders\.csv: the mapping names columns the file does not have"):
        load_file(path, table="orders", mapping={"order_id": "Order No"})


def test_padded_values_are_trimmed_everywhere(tmp_path):
    csv = ("order_id;customer_id;timestamp;channel;revenue;status;margin\n"
           " 1 ; C1 ; 2024-03-14 10:00:00 ; Web ;  10,5 ; Completed ;  2,5 \n")
    result = load(tmp_path, "o.csv", csv)
    assert result.frame.row(0) == ("1", "C1", datetime(2024, 3, 14, 10), "web", 10.5, "completed", 2.5)


def test_read_headers_gives_the_columns_as_the_loader_sees_them(tmp_path):
    from omni_metrics.loading import read_headers

    assert read_headers(TURKISH.encode("cp1254"), "pos.csv") == [
        "Sipariş No", "Müşteri No", "Tarih", "Kanal", "Tutar", "Durum"]
    assert read_headers(gzip.compress(b" a ;b\n1;2\n"), "x.csv.gz") == ["a", "b"]
    with pytest.raises(LoadError, match="empty"):
        read_headers(b"", "e.csv")


def test_utc_z_times_move_to_the_dataset_time_zone(tmp_path):
    # every value ends in Z (the fast literal-Z format): 10:00Z is 13:00 in Istanbul (UTC+3)
    csv = "customer_id,timestamp,channel,event_type\nC,2024-03-14T10:00:00Z,web,visit\nC,2024-03-14 22:30:00Z,web,visit\n"
    result = load(tmp_path, "t.csv", csv, timezone="Europe/Istanbul")
    assert result.frame["timestamp"].to_list() == [datetime(2024, 3, 14, 13), datetime(2024, 3, 15, 1, 30)]
    assert result.report.date_format == {"timestamp": "YYYY-MM-DDTHH:MM:SSZ, YYYY-MM-DD HH:MM:SSZ"}


def test_dotted_dates_note_the_value_that_proves_day_first(tmp_path):
    csv = "Sipariş No;Müşteri No;Tarih;Kanal;Tutar\n1;C;03.04.2024;Mağaza;5\n2;C;14.03.2024;Mağaza;5\n"
    result = load(tmp_path, "pos.csv", csv)
    assert "dates in `Tarih` read as day-first: 14.03.2024 cannot be month-first" in result.report.notes
    assert result.frame["timestamp"].to_list() == [datetime(2024, 4, 3), datetime(2024, 3, 14)]


def test_a_code_page_byte_far_into_the_file_switches_the_whole_file(tmp_path):
    # 300 KB of ASCII rows (the head looks like UTF-8), then one Windows-1254 row: polars' UTF-8 check
    # catches it and the whole file is read as Windows-1254 instead.
    rows = "".join(f"{i},C{i},2024-01-01,web,5\n" for i in range(15000))
    data = ("order_id,customer_id,timestamp,channel,revenue\n" + rows + "x,Müşteri,2024-01-01,Mağaza,5\n")
    result = load(tmp_path, "o.csv", data, encoding="cp1254")
    assert len(data) > 262144
    assert result.report.encoding == "windows-1254"
    assert result.frame.row(-1)[:2] == ("x", "Müşteri")


def test_rows_with_more_fields_than_the_header_are_kept_and_reported(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,timestamp,channel,revenue\n1,a,2024-01-01,web,10\n"
                    "2,b,2024-01-02,web,5,an extra field\n", encoding="utf-8")
    result = load_file(path)
    assert result.frame["order_id"].to_list() == ["1", "2"]
    assert any("more fields than the header" in n for n in result.report.notes)
