import polars as pl

from omni_metrics.schema import header_key, normalise_channel, normalise_name, normalise_status


def test_header_key_folds_turkish_case_and_camel():
    assert header_key("Müşteri No") == "musteri_no"
    assert header_key("customerId") == "customer_id"
    assert header_key("  SİPARİŞ NO ") == "siparis_no"
    assert header_key("E-posta") == "e_posta"


def test_names_are_normalised_and_synonyms_folded():
    s = pl.Series(["  Mobil  Uygulama ", "WhatsApp", "E-Posta", "MAĞAZA", "Web Sitesi", "Çağrı Merkezi", ""])
    out = pl.select(normalise_channel(pl.lit(s))).to_series().to_list()
    assert out == ["mobile_app", "whatsapp", "email", "store", "web", "support", None]
    ev = pl.select(normalise_name(pl.lit(pl.Series(["Add To Cart", "İADE talebi"])))).to_series().to_list()
    assert ev == ["add_to_cart", "iade_talebi"]


def test_status_folding():
    s = pl.Series(["Tamamlandı", None, "İptal Edildi", "iade", "on hold"])
    assert pl.select(normalise_status(pl.lit(s))).to_series().to_list() == [
        "completed", "completed", "cancelled", "returned", "on_hold"]
