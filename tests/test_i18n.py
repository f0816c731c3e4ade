"""Message catalogues and locale formats (hand-written expected strings)."""

import datetime as dt
import re

import pytest

from omni_metrics.i18n import LANGUAGES, MISSING, Locale, catalogue


def test_every_key_exists_in_every_language_with_the_same_placeholders():
    keys = {lang: set(catalogue(lang)) for lang in LANGUAGES}
    for lang, have in keys.items():
        assert have == keys["en"], f"{lang}: missing {sorted(keys['en'] - have)}, extra {sorted(have - keys['en'])}"
    for key, text in catalogue("en").items():
        for lang in LANGUAGES:
            other = catalogue(lang)[key]
            assert set(re.findall(r"{(\w+)}", other)) == set(re.findall(r"{(\w+)}", text)), (lang, key)
            assert other.strip(), (lang, key)


@pytest.mark.parametrize(
    ("lang", "number", "percent", "money", "date"),
    [
        ("en", "1,234.56", "12.5%", "₺1,234.56", "2024-03-05"),
        ("tr", "1.234,56", "%12,5", "₺1.234,56", "05.03.2024"),
    ],
)
def test_locale_formats(lang, number, percent, money, date):
    loc = Locale(lang, "TRY")
    assert loc.number(1234.56, 2) == number
    assert loc.percent(0.125) == percent
    assert loc.money(1234.56) == money
    assert loc.date(dt.date(2024, 3, 5)) == date


def test_undefined_values_are_a_dash_not_zero():
    loc = Locale("tr", "EUR")
    assert loc.percent(None) == loc.money(float("nan")) == loc.number(None) == MISSING
    assert Locale("en", "USD").money(1234.5, 0) == "$1,235"
    assert Locale("tr", "EUR").money(1234.5) == "€1.234,50"
    assert Locale("en").signed_percent(-0.031) == "-3.1%"
    assert Locale("tr").signed_percent(0.2) == "+%20,0"


# Messages a Turkish reader writes exactly as in English: names, abbreviations, a format with no words.
SAME_IN_TURKISH = {"app.title", "channel.web", "common.missing", "load.table_columns", "metric.csat", "metric.nps",
                   "metric.roas", "metric.segment", "silence.roc_auc", "value.model"}


def test_no_message_is_left_in_english_in_the_turkish_catalogue():
    """A message copied into tr.json untranslated is invisible on a page (the page checker compares the two
    languages): every message the same in both must be one of the few that are meant to be."""
    same = {key for key, text in catalogue("en").items() if catalogue("tr")[key] == text}
    assert same == SAME_IN_TURKISH, (sorted(same - SAME_IN_TURKISH), sorted(SAME_IN_TURKISH - same))
