"""The canonical tables of spec/DATA.md: columns, dtypes, aliases, and the channel/event vocabularies."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import polars as pl

# --- tables ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    required: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    # A column whose presence makes this table likely (used to tell tables apart from a header alone).
    signature: tuple[str, ...] = field(default=())
    keeps_extra_columns: bool = False

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def optional(self) -> list[str]:
        return [c.name for c in self.columns if not c.required]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def dtypes(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}


DATETIME = pl.Datetime("us")

_CUSTOMER_ID = (
    "customer_id", "customer", "customer_no", "customer_number", "customerid", "client_id", "user_id", "userid",
    "user", "member_id", "contact_id", "buyer_id", "shopper_id",
    "musteri_id", "musteri_no", "musteri_numarasi", "musteri_kodu", "musteri", "uye_no", "uye_id",
    "kullanici_id", "cari_kod", "cari_no",
)
_TIMESTAMP = (
    "timestamp", "time", "datetime", "date_time", "event_time", "event_timestamp", "created_at", "occurred_at",
    "date", "ts", "event_date", "order_date", "order_time", "ordered_at", "purchase_date", "submitted_at",
    "response_date", "responded_at", "survey_date", "tarih", "zaman", "islem_tarihi", "siparis_tarihi",
    "tarih_saat", "olusturma_tarihi", "yanit_tarihi", "anket_tarihi",
)
_CHANNEL = (
    "channel", "source", "medium", "touchpoint", "platform", "channel_name", "sales_channel", "kanal",
    "satis_kanali", "kaynak", "temas_noktasi",
)
_ORDER_ID = (
    "order_id", "order", "order_no", "order_number", "orderid", "transaction_id", "receipt_id", "invoice_no",
    "invoice_id", "siparis_no", "siparis_id", "siparis_numarasi", "siparis", "fis_no", "fatura_no",
)

INTERACTIONS = Table(
    "interactions",
    (
        Column("customer_id", pl.String, True, _CUSTOMER_ID),
        Column("timestamp", DATETIME, True, _TIMESTAMP),
        Column("channel", pl.String, True, _CHANNEL),
        Column(
            "event_type", pl.String, True,
            ("event_type", "event", "event_name", "action", "activity", "interaction", "interaction_type",
             "type", "olay", "olay_tipi", "olay_turu", "etkinlik", "islem", "islem_tipi", "aksiyon"),
        ),
        Column("session_id", pl.String, False, ("session_id", "session", "sessionid", "visit_id", "oturum",
                                                 "oturum_id", "oturum_no")),
        Column("campaign", pl.String, False, ("campaign", "campaign_name", "utm_campaign", "kampanya",
                                               "kampanya_adi")),
        Column("order_id", pl.String, False, _ORDER_ID),
    ),
    signature=("event_type", "session_id"),
)

ORDERS = Table(
    "orders",
    (
        Column("order_id", pl.String, True, _ORDER_ID),
        Column("customer_id", pl.String, True, _CUSTOMER_ID),
        Column("timestamp", DATETIME, True, _TIMESTAMP),
        Column("channel", pl.String, True, _CHANNEL),
        Column(
            "revenue", pl.Float64, True,
            ("revenue", "amount", "total", "order_total", "order_value", "value", "net_revenue", "net_amount",
             "sales", "price", "grand_total", "total_amount", "tutar", "toplam", "toplam_tutar", "net_tutar",
             "ciro", "gelir", "satis_tutari", "siparis_tutari", "fiyat"),
        ),
        Column("status", pl.String, False, ("status", "order_status", "state", "durum", "siparis_durumu")),
        Column("margin", pl.Float64, False, ("margin", "gross_margin", "profit", "kar", "brut_kar", "marj")),
    ),
    signature=("order_id", "revenue"),
)

SURVEYS = Table(
    "surveys",
    (
        Column("timestamp", DATETIME, True, _TIMESTAMP),
        Column(
            "score", pl.Int64, True,
            ("score", "rating", "nps", "nps_score", "csat", "csat_score", "answer", "response", "puan",
             "skor", "not", "degerlendirme", "memnuniyet", "memnuniyet_puani"),
        ),
        Column("survey_type", pl.String, False, ("survey_type", "survey", "type", "metric", "question_type",
                                                  "anket_tipi", "anket_turu", "anket")),
        Column("customer_id", pl.String, False, _CUSTOMER_ID),
        Column("channel", pl.String, False, _CHANNEL),
        Column("comment", pl.String, False, ("comment", "comments", "feedback", "verbatim", "text", "remark",
                                              "yorum", "aciklama", "geri_bildirim", "gorus")),
    ),
    signature=("score",),
)

SPEND = Table(
    "spend",
    (
        Column("date", pl.Date, True, ("date", "day", "spend_date", "tarih", "gun") + ("timestamp",)),
        Column("channel", pl.String, True, _CHANNEL),
        Column("spend", pl.Float64, True, ("spend", "cost", "ad_spend", "amount_spent", "budget", "harcama",
                                            "maliyet", "butce", "reklam_harcamasi")),
        Column("campaign", pl.String, False, ("campaign", "campaign_name", "kampanya", "kampanya_adi")),
        Column("impressions", pl.Float64, False, ("impressions", "impr", "gosterim", "gosterim_sayisi")),
        Column("clicks", pl.Float64, False, ("clicks", "tiklama", "tiklama_sayisi")),
    ),
    signature=("spend",),
)

CUSTOMERS = Table(
    "customers",
    (
        Column("customer_id", pl.String, True, _CUSTOMER_ID),
        Column("segment", pl.String, False, ("segment", "persona", "customer_segment", "segment_adi")),
        Column("region", pl.String, False, ("region", "city", "country", "bolge", "sehir", "il", "ulke")),
        Column("signup_date", pl.Date, False, ("signup_date", "registration_date", "created", "joined",
                                                "kayit_tarihi", "uyelik_tarihi")),
    ),
    signature=("customer_id",),
    keeps_extra_columns=True,
)

TABLES: dict[str, Table] = {t.name: t for t in (INTERACTIONS, ORDERS, SURVEYS, SPEND, CUSTOMERS)}
TABLE_NAMES = tuple(TABLES)


def empty_frame(table: str) -> pl.DataFrame:
    """A canonical frame with no rows: every column present with its dtype."""
    return pl.DataFrame(schema=TABLES[table].dtypes)


# --- names ----------------------------------------------------------------------------------------------

_TURKISH_FOLD = str.maketrans({"ç": "c", "ğ": "g", "ı": "i", "İ": "i", "ö": "o", "ş": "s", "ü": "u",
                               "Ç": "c", "Ğ": "g", "Ö": "o", "Ş": "s", "Ü": "u", "I": "i"})


def header_key(text: str) -> str:
    """Fold a column header for alias matching: `Müşteri No` → `musteri_no`, `customerId` → `customer_id`."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text.strip())  # camelCase → camel_Case
    text = text.translate(_TURKISH_FOLD).lower()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^a-z0-9]+", "_", text)
    return text.strip("_")


def normalise_name(expr: pl.Expr) -> pl.Expr:
    """DATA.md "Names": trim, collapse spaces, lower-case, fold Turkish letters, spaces/hyphens → `_`."""
    e = expr.str.strip_chars().str.replace_all(r"\s+", " ")
    # Upper-case Turkish letters first, so that lower-casing cannot produce a combining dot (İ → i̇).
    for src, dst in (("İ", "i"), ("I", "i"), ("Ç", "c"), ("Ğ", "g"), ("Ö", "o"), ("Ş", "s"), ("Ü", "u")):
        e = e.str.replace_all(src, dst, literal=True)
    e = e.str.to_lowercase()
    for src, dst in (("ç", "c"), ("ğ", "g"), ("ı", "i"), ("ö", "o"), ("ş", "s"), ("ü", "u"), ("\u0307", "")):
        e = e.str.replace_all(src, dst, literal=True)
    return e.str.replace_all(r"[ \-]", "_").replace("", None)


CHANNELS = ("web", "mobile_app", "store", "email", "social", "support")

CHANNEL_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("site", "website", "web_site", "web_sitesi", "online", "www", "desktop"), "web"),
    **dict.fromkeys(("app", "ios", "android", "mobile", "mobil", "mobil_uygulama", "uygulama"), "mobile_app"),
    **dict.fromkeys(("shop", "pos", "in_store", "magaza", "sube", "retail"), "store"),
    **dict.fromkeys(("e_mail", "mail", "newsletter", "e_posta", "eposta"), "email"),
    **dict.fromkeys(("instagram", "facebook", "tiktok", "x", "twitter", "youtube", "linkedin", "sosyal",
                     "sosyal_medya"), "social"),
    **dict.fromkeys(("call_center", "phone", "chat", "live_chat", "cagri_merkezi", "musteri_hizmetleri",
                     "destek"), "support"),
}


def normalise_channel(expr: pl.Expr) -> pl.Expr:
    return normalise_name(expr).replace(CHANNEL_SYNONYMS)


STAGES = ("awareness", "consideration", "intent", "conversion")

EVENT_STAGE: dict[str, str] = {
    **dict.fromkeys(("impression", "visit", "email_open", "social_engagement", "ad_click", "store_visit"),
                    "awareness"),
    **dict.fromkeys(("product_view", "add_to_cart", "email_click", "wishlist"), "consideration"),
    "checkout": "intent",
    "purchase": "conversion",
}
SILENCE_SIGNALS = ("cart_abandon", "support_contact", "complaint", "unsubscribe", "return_request")
EVENT_TYPES = tuple(EVENT_STAGE) + SILENCE_SIGNALS
STAGE_RANK = {s: i for i, s in enumerate(STAGES)}


def event_stage(expr: pl.Expr) -> pl.Expr:
    """The funnel stage of an event type; unknown events and silence signals count as awareness."""
    return expr.replace_strict(EVENT_STAGE, default="awareness", return_dtype=pl.String)


def event_stage_rank(expr: pl.Expr) -> pl.Expr:
    return expr.replace_strict({k: STAGE_RANK[v] for k, v in EVENT_STAGE.items()}, default=0,
                               return_dtype=pl.Int8)


ORDER_STATUSES = ("completed", "cancelled", "returned", "refunded")
STATUS_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("tamamlandi", "teslim_edildi", "complete", "delivered", "paid", "fulfilled", "shipped"),
                    "completed"),
    **dict.fromkeys(("iptal", "iptal_edildi", "canceled"), "cancelled"),
    **dict.fromkeys(("iade", "iade_edildi", "return"), "returned"),
    **dict.fromkeys(("refund",), "refunded"),
}


def normalise_status(expr: pl.Expr) -> pl.Expr:
    """Empty → completed; Turkish and common English labels folded; other values kept as normalised."""
    return normalise_name(expr).replace(STATUS_SYNONYMS).fill_null("completed")


SURVEY_TYPES = ("nps", "csat")
SCORE_RANGE = {"nps": (0, 10), "csat": (1, 5)}

SET_ASIDE_REASONS = (
    "unparseable_date", "missing_customer_id", "missing_order_id", "missing_channel", "missing_event_type",
    "non_numeric_revenue", "negative_revenue", "non_numeric_score", "score_out_of_range", "non_numeric_spend",
)

MISSING_MARKERS = ("", "N/A", "NA", "NaN", "null", "NULL", "-")
