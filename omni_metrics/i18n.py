"""UI languages and locale formats: one message catalogue per language, numbers and dates through Babel (CLDR)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache
from pathlib import Path

from babel import Locale as BabelLocale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

LANGUAGES = {"en": "English", "tr": "Türkçe"}
DEFAULT_LANGUAGE = "en"
BABEL_LOCALES = {"en": "en_US", "tr": "tr_TR"}
# Dates as a manager in each language writes them: ISO for English, day.month.year for Turkish.
DATE_PATTERNS = {"en": "yyyy-MM-dd", "tr": "dd.MM.yyyy"}
DATETIME_PATTERNS = {"en": "yyyy-MM-dd HH:mm", "tr": "dd.MM.yyyy HH:mm"}
# The same in the notation of Streamlit's date widgets and table columns (moment.js).
WIDGET_DATE_PATTERNS = {"en": "YYYY-MM-DD", "tr": "DD.MM.YYYY"}
CURRENCIES = {"TRY": "₺", "USD": "$", "EUR": "€", "GBP": "£"}
MISSING = "–"  # an undefined value (a division by zero) is shown as a dash, never as 0

_LOCALE_DIR = Path(__file__).resolve().parent / "locales"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The flat key → message mapping of one language (`omni_metrics/locales/<lang>.json`)."""
    return json.loads((_LOCALE_DIR / f"{lang}.json").read_text(encoding="utf-8"))


# Sentences the report and the models still write as plain English (omni_metrics/report.py, metrics/*): the
# English catalogue holds each one's exact text under these prefixes, so `Locale.say` recognises and translates it.
SENTENCE_PREFIXES = ("sentence.", "risk.")
_ENGLISH_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})*")


@cache
def _sentences() -> list[tuple[str, re.Pattern]]:
    out = []
    for key, text in catalogue(DEFAULT_LANGUAGE).items():
        if key.startswith(SENTENCE_PREFIXES):
            parts = re.split(r"{(\w+)}", text)
            out.append((key, re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)"
                                                for i, p in enumerate(parts)), re.DOTALL)))
    return out


@lru_cache(maxsize=65536)
def recognise(text: str) -> tuple[str, dict[str, str]] | None:
    """(key, the values filled in) of a known English sentence; None for any other text."""
    for key, pattern in _sentences():
        if match := pattern.fullmatch(text):
            return key, match.groupdict()
    return None


def normalise_language(lang: str | None) -> str:
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def _half_up(value, decimals: int) -> Decimal:
    """Round as people do (2.5 → 3): Babel alone rounds half to even, so 1,234.5 would show as 1,234."""
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))


class Message(str):
    """A sentence that is its English text (so it prints, compares and serialises as before) and carries its
    catalogue key and values, so a page can show it in the reader's language with `Locale.say`.
    Values may be numbers (written in the locale's format), strings, other Messages or lists of them."""

    key: str
    values: dict

    def __new__(cls, key: str, english: str, /, **values):
        text = super().__new__(cls, english)
        text.key, text.values = key, values
        return text

    def __reduce__(self):  # pickled by Streamlit's cache: keep the key and values
        return _message, (self.key, str(self), self.values)


def _message(key: str, english: str, values: dict) -> Message:
    return Message(key, english, **values)


@dataclass(frozen=True)
class Locale:
    """Messages and formats of one UI language; `currency` is the dataset's ISO code (TRY, USD, EUR…)."""

    lang: str = DEFAULT_LANGUAGE
    currency: str = "USD"

    @property
    def babel(self) -> str:
        return BABEL_LOCALES[self.lang]

    def t(self, key: str, /, **values) -> str:
        """The message for `key`, placeholders filled; an unknown key falls back to English, then to the key."""
        text = catalogue(self.lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
        return text.format(**values) if values else text

    def say(self, text) -> str:
        """A Message in this language (its values formatted here); a known English sentence of the report
        (see SENTENCE_PREFIXES) translated; any other text as it is."""
        if isinstance(text, Message):
            if text.key not in catalogue(self.lang):
                return str(text)
            return self.t(text.key, **{name: self._value(v) for name, v in text.values.items()})
        if self.lang == DEFAULT_LANGUAGE or not isinstance(text, str) or not (known := recognise(text)):
            return "" if text is None else str(text)
        key, values = known
        return self.t(key, **{name: self.number(int(v.replace(",", ""))) if _ENGLISH_NUMBER.fullmatch(v)
                              else self.say(v) for name, v in values.items()})

    def _value(self, value) -> str:
        if isinstance(value, bool) or value is None:
            return str(value)
        if isinstance(value, int):
            return self.number(value)
        if isinstance(value, float):
            return self.number(value, 2)
        if isinstance(value, list | tuple):  # commas between items, semicolons when an item holds a comma
            items = [self._value(v) for v in value]
            return ("; " if any(", " in item for item in items) else ", ").join(items)
        return self.say(value)

    def number(self, value, decimals: int = 0) -> str:
        if _missing(value):
            return MISSING
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(_half_up(value, decimals), format=pattern, locale=self.babel)

    def percent(self, fraction, decimals: int = 1) -> str:
        """A rate in [0, 1] as the locale writes percentages: `12.5%` or `%12,5`."""
        if _missing(fraction):
            return MISSING
        digits = "#,##0" + ("." + "0" * decimals if decimals else "")
        pattern = f"%{digits}" if self.lang == "tr" else f"{digits}%"
        return format_percent(_half_up(fraction, decimals + 2), format=pattern, locale=self.babel)

    def money(self, value, decimals: int = 2) -> str:
        """An amount in the dataset currency, with the locale's symbol placement: `$1,234.56`, `₺1.234,56`."""
        if _missing(value):
            return MISSING
        pattern = BabelLocale.parse(self.babel).currency_formats["standard"].pattern.split(";")[0]
        if decimals != 2:
            pattern = pattern.replace("0.00", "0" + ("." + "0" * decimals if decimals else ""))
        if self.currency in CURRENCIES:  # CLDR's en_US writes "TRY1,234"; a manager expects the sign
            pattern = pattern.replace("¤", f"'{CURRENCIES[self.currency]}'")
        return format_currency(_half_up(value, decimals), self.currency, format=pattern, locale=self.babel, currency_digits=False)

    @property
    def date_format(self) -> str:
        """How this language writes a date, for st.date_input and date columns: `YYYY-MM-DD`, `DD.MM.YYYY`."""
        return WIDGET_DATE_PATTERNS[self.lang]

    @property
    def datetime_format(self) -> str:
        """The same for a date and time column: `YYYY-MM-DD HH:mm`, `DD.MM.YYYY HH:mm`."""
        return WIDGET_DATE_PATTERNS[self.lang] + " HH:mm"

    def date(self, value: date | datetime | None) -> str:
        if value is None:
            return MISSING
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        return format_date(value, format=DATE_PATTERNS[self.lang], locale=self.babel)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return MISSING
        return format_datetime(value, format=DATETIME_PATTERNS[self.lang], locale=self.babel)

    def signed_percent(self, fraction, decimals: int = 1) -> str:
        """A change such as +4.2% / -%3,1 for tiles' deltas (ASCII minus: Streamlit reads it as a fall)."""
        if _missing(fraction):
            return MISSING
        sign = "+" if fraction > 0 else ("-" if fraction < 0 else "")
        return sign + self.percent(abs(fraction), decimals)
