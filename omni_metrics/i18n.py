"""UI languages and locale formats: one message catalogue per language, numbers and dates through Babel (CLDR)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
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
CURRENCIES = {"TRY": "₺", "USD": "$", "EUR": "€", "GBP": "£"}
MISSING = "–"  # an undefined value (a division by zero) is shown as a dash, never as 0

_LOCALE_DIR = Path(__file__).resolve().parent / "locales"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The flat key → message mapping of one language (`omni_metrics/locales/<lang>.json`)."""
    return json.loads((_LOCALE_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def normalise_language(lang: str | None) -> str:
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def _half_up(value, decimals: int) -> Decimal:
    """Round as people do (2.5 → 3): Babel alone rounds half to even, so 1,234.5 would show as 1,234."""
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))


@dataclass(frozen=True)
class Locale:
    """Messages and formats of one UI language; `currency` is the dataset's ISO code (TRY, USD, EUR…)."""

    lang: str = DEFAULT_LANGUAGE
    currency: str = "USD"

    @property
    def babel(self) -> str:
        return BABEL_LOCALES[self.lang]

    def t(self, key: str, **values) -> str:
        """The message for `key`, placeholders filled; an unknown key falls back to English, then to the key."""
        text = catalogue(self.lang).get(key) or catalogue(DEFAULT_LANGUAGE).get(key) or key
        return text.format(**values) if values else text

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
