"""Cell parsers: one raw spreadsheet or CSV cell in, one Python value out, or a ParseError with a message a
person can act on.

A cell is a ``str`` from CSV, or whatever openpyxl gives for an XLSX cell (str, int, float, bool,
datetime, date, time). Blank cells never reach a parser: the engine turns them into "no value" first.
Every parser accepts full-width forms (NFKC), so ``２０２６／３／５`` and ``１，０００`` parse like their
ASCII twins.

Spreadsheet formula neutralising (export prefixes one ``'`` to text starting with ``= + - @ TAB CR``)
is undone by :func:`unneutralise`, which the engine applies to every text cell before its parser runs,
so export then import gives back the same text.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
import zoneinfo
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_noop

from bcrm.core import texts
from bcrm.financing.choices import CURRENCIES


class ParseError(ValueError):
    """``message`` in the language active now; ``text`` (optional) the same as a code and parameters
    (bcrm.core.texts), so the import report can show it in each reader's language later."""

    def __init__(self, message: str, text: dict[str, Any] | None = None):
        self.message = str(message)
        self.text = text
        super().__init__(self.message)

    @classmethod
    def of(cls, template: str, params: dict[str, Any]) -> ParseError:
        """From a message's code (marked with gettext_noop) and its parameters, shown as the cell held them."""
        text = {"template": template, "params": {k: v if isinstance(v, str) else str(v) for k, v in params.items()}}
        return cls(texts.render(text), text=text)


CHOICE_ERROR = gettext_noop("“%(value)s” is not one of: %(options)s.")
CHOICE_OPTION = gettext_noop("%(label)s [%(code)s]")


# --------------------------------------------------------------------------------------------- text

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """What export writes for a text cell: a spreadsheet must never run it as a formula.

    Text starting with a trigger character gets one leading ``'``; so does text that already is
    quote(s) followed by a trigger, so that :func:`unneutralise` can always strip exactly one quote.
    """
    if text and (text[0] in FORMULA_TRIGGERS or (text[0] == "'" and text.lstrip("'")[:1] in FORMULA_TRIGGERS)):
        return "'" + text
    return text


def unneutralise(text: str) -> str:
    """Undo :func:`neutralise`: one leading quote before (quotes and then) a trigger character goes."""
    if text[:1] == "'":
        rest = text.lstrip("'")
        if rest and rest[0] in FORMULA_TRIGGERS:
            return text[1:]
    return text


def nfkc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def cell_text(value: Any) -> str:
    """Any cell as text: whole floats lose their ``.0`` (an XLSX phone number is a float)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def parse_text(value: Any) -> str:
    """Short text (a name, a code): surrounding whitespace goes, as the forms strip it."""
    return cell_text(value).strip()


def parse_long_text(value: Any) -> str:
    """Free text (notes, summaries): kept as written."""
    return cell_text(value)


def parse_email(value: Any) -> str:
    return nfkc(parse_text(value)).strip()


# ------------------------------------------------------------------------------------------ booleans

TRUE_WORDS = {"true", "t", "yes", "y", "1", "是", "对", "真", "有", "√", "✓", "x", "on"}
FALSE_WORDS = {"false", "f", "no", "n", "0", "否", "不", "不是", "假", "无", "×", "✗", "off"}


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    word = nfkc(cell_text(value)).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ParseError.of(gettext_noop(
        "“%(value)s” is not yes or no (use true/false, yes/no, 是/否 or 1/0)."), {"value": value})


# ------------------------------------------------------------------------------------------- numbers

_SEPARATORS = re.compile(r"[,_\s'\u00a0\u202f\u3000]")
_MULTIPLIERS = {"万": Decimal(10_000), "亿": Decimal(100_000_000)}
# Symbols and words for a currency inside an amount cell, longest first so "US$" wins over "$".
CURRENCY_WORDS: dict[str, str] = {
    "US$": "USD", "HK$": "HKD", "S$": "SGD", "A$": "AUD", "C$": "CAD", "R$": "BRL", "RMB": "CNY",
    "¥": "CNY", "$": "USD", "€": "EUR", "£": "GBP", "₩": "KRW", "₹": "INR", "₫": "VND", "₱": "PHP",
    "人民币": "CNY", "元": "CNY", "美元": "USD", "美金": "USD", "欧元": "EUR", "港币": "HKD", "港元": "HKD",
    "英镑": "GBP", "日元": "JPY", "新加坡元": "SGD", "澳元": "AUD", "加元": "CAD", "瑞士法郎": "CHF", "韩元": "KRW",
}
_WORDS_BY_LENGTH = sorted(CURRENCY_WORDS, key=len, reverse=True)
_CODE = re.compile(r"^([A-Za-z]{3})\s*|\s*([A-Za-z]{3})$")


def _strip_currency(text: str) -> tuple[str, str | None]:
    """Take a currency code, symbol or word off either end of ``text``."""
    found: str | None = None
    for _round in range(2):  # e.g. "¥1,000元" carries two marks for the same currency
        stripped = text.strip()
        hit = None
        for word in _WORDS_BY_LENGTH:
            if stripped.startswith(word) or stripped.endswith(word):
                hit = word
                break
        if hit is not None:
            code = CURRENCY_WORDS[hit]
            stripped = stripped[len(hit):] if stripped.startswith(hit) else stripped[: -len(hit)]
        else:
            match = _CODE.search(stripped)
            if not match:
                break
            code = (match.group(1) or match.group(2)).upper()
            stripped = stripped[: match.start()] + stripped[match.end():]
        if found is not None and found != code:
            raise ParseError.of(gettext_noop("“%(value)s” names two currencies."), {"value": text})
        found, text = code, stripped
    return text.strip(), found


_PLAIN_NUMBER = re.compile(r"\d{1,30}(\.\d{1,30})?")


def parse_decimal_and_currency(value: Any) -> tuple[Decimal, str | None]:
    """A number with optional thousands separators, currency code or symbol, 万/亿 multiplier,
    percent sign or accounting parentheses; returns the number and the currency it named, if any."""
    if isinstance(value, bool):
        raise ParseError.of(gettext_noop("“%(value)s” is not a number."), {"value": value})
    if isinstance(value, int):
        return Decimal(value), None
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ParseError.of(gettext_noop("“%(value)s” is not a number."), {"value": value})
        return Decimal(repr(value)), None
    raw = cell_text(value)
    if _PLAIN_NUMBER.fullmatch(raw):  # the common case, fast: 1234 or 1234.56
        return Decimal(raw), None
    text = nfkc(raw).strip()
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1].strip()
    text, currency = _strip_currency(text)
    if text.startswith("-"):
        negative, text = not negative, text[1:].strip()
    elif text.startswith("+"):
        text = text[1:].strip()
    if text.startswith(("(", "-")):
        raise ParseError.of(gettext_noop("“%(value)s” is not a number."), {"value": raw})
    # A currency mark may also sit after the sign: "-$1,000".
    if currency is None:
        text, currency = _strip_currency(text)
    factor = Decimal(1)
    if text.endswith("%"):
        factor, text = Decimal("0.01"), text[:-1].strip()
    elif text[-1:] in _MULTIPLIERS:
        factor, text = _MULTIPLIERS[text[-1]], text[:-1].strip()
    digits = _SEPARATORS.sub("", text)
    if not re.fullmatch(r"\d+(\.\d*)?|\.\d+", digits):
        raise ParseError.of(gettext_noop("“%(value)s” is not a number."), {"value": raw})
    try:
        number = Decimal(digits) * factor
    except InvalidOperation:
        raise ParseError.of(gettext_noop("“%(value)s” is not a number."), {"value": raw}) from None
    if factor != 1:
        number = number.normalize()
        if number == number.to_integral_value():
            number = number.quantize(Decimal(1))
    return (-number if negative else number), currency


def parse_decimal(value: Any) -> Decimal:
    number, currency = parse_decimal_and_currency(value)
    if currency is not None:
        raise ParseError.of(gettext_noop(
            "“%(value)s”: a currency does not belong in this column."), {"value": value})
    return number


def parse_money(value: Any) -> tuple[Decimal, str | None]:
    """An amount; the engine checks a currency named in the cell against the row's currency column."""
    return parse_decimal_and_currency(value)


def parse_int(value: Any) -> int:
    if type(value) is str and value.isascii() and value.isdigit():
        return int(value)
    number = parse_decimal(value)
    if number != number.to_integral_value():
        raise ParseError.of(gettext_noop("“%(value)s” is not a whole number."), {"value": value})
    return int(number)


def parse_probability(value: Any) -> Decimal:
    """0.3, 30% or 30 (a whole percentage above 1) all mean 0.3."""
    number = parse_decimal(value)
    text = cell_text(value).strip()
    if not text.endswith(("%", "％")) and Decimal(1) < number <= Decimal(100):
        number = number / 100
    return number


# ---------------------------------------------------------------------------------------- currencies

_CURRENCY_SET = frozenset(CURRENCIES)


def parse_currency(value: Any) -> str:
    text = nfkc(cell_text(value)).strip()
    code = CURRENCY_WORDS.get(text) or CURRENCY_WORDS.get(text.upper()) or text.upper()
    if code not in _CURRENCY_SET:
        raise ParseError.of(gettext_noop(
            "“%(value)s” is not a currency bcrm deals in (ISO 4217 code such as USD, CNY, EUR)."), {"value": value})
    return code


# ----------------------------------------------------------------------------------------- countries

COUNTRY_ALIASES = {
    "PRC": "CN", "中华人民共和国": "CN", "中国大陆": "CN", "大陆": "CN", "Mainland China": "CN",
    "People's Republic of China": "CN", "中國": "CN",
    "USA": "US", "U.S.": "US", "U.S.A.": "US", "United States": "US", "America": "US", "美利坚合众国": "US",
    "UK": "GB", "U.K.": "GB", "Great Britain": "GB", "Britain": "GB", "England": "GB", "大不列颠": "GB",
    "Korea": "KR", "Republic of Korea": "KR", "南韩": "KR", "大韩民国": "KR",
    "Hong Kong SAR": "HK", "中国香港": "HK", "香港特别行政区": "HK", "香港特區": "HK",
    "Macao": "MO", "Macau": "MO", "中国澳门": "MO", "澳门特别行政区": "MO",
    "中国台湾": "TW", "台湾地区": "TW",
    "UAE": "AE", "阿联酋": "AE", "Russian Federation": "RU", "Viet Nam": "VN", "Türkiye": "TR", "Turkiye": "TR",
    "Lao PDR": "LA", "Ivory Coast": "CI", "Czechia": "CZ", "Holland": "NL", "新加坡共和国": "SG",
}


def country_key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    text = re.sub(r"[.,'’()]", "", text)
    return re.sub(r"\s+", " ", text)


@functools.cache
def country_lookup() -> dict[str, str]:
    """Every name a country answers to, built once per process: ISO alpha-2/alpha-3/numeric codes, the
    English and Simplified Chinese names django-countries carries, its common and old names, and a few
    everyday aliases (PRC, USA, UK, 中国大陆, 中国香港…)."""
    from django_countries import countries

    lookup: dict[str, str] = {}

    def add(name: Any, code: str) -> None:
        key = country_key(str(name))
        if key:
            lookup.setdefault(key, code)

    codes = [code for code, _name in countries]
    for code in codes:
        add(code, code)
        alpha3 = countries.alpha3(code)
        if alpha3:
            add(alpha3, code)
        numeric = countries.numeric(code, padded=True)
        if numeric:
            add(numeric, code)
    for language in ("en", "zh-hans"):
        with translation.override(language):
            for code, name in countries:
                add(name, code)
    for code, name in countries.COMMON_NAMES.items():
        add(name, code)
    for code, names in countries.OLD_NAMES.items():
        for name in names:
            add(name, code)
    from django_countries.data import COUNTRIES

    for code, name in COUNTRIES.items():
        add(name, code)
    for alias, code in COUNTRY_ALIASES.items():
        add(alias, code)
    return lookup


def parse_country(value: Any) -> str:
    code = country_lookup().get(country_key(cell_text(value)))
    if code is None:
        raise ParseError.of(gettext_noop(
            "“%(value)s” is not a country bcrm knows (use an ISO code such as CN or a name)."), {"value": value})
    return code


# --------------------------------------------------------------------------------------- dates, times

EXCEL_MAX_SERIAL = 2_958_465  # 9999-12-31
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_COMPACT = re.compile(r"(19|20)(\d{2})(\d{2})(\d{2})")
_TIME = re.compile(
    r"(?:\s+|T)?(\d{1,2})\s*[:时時]\s*(\d{2})(?:\s*[:分]\s*(\d{2})(?:\.(\d{1,6}))?)?\s*[秒分]?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?"
)
_SERIAL = re.compile(r"\d{1,7}(\.\d+)?")


def time_zone() -> dt.tzinfo:
    return _zone(settings.TIME_ZONE)


@functools.cache
def _zone(name: str) -> dt.tzinfo:
    return zoneinfo.ZoneInfo(name)


def from_excel_serial(serial: float) -> dt.datetime:
    """Excel's 1900 date system (with its phantom 1900-02-29: serials below 61 are one day off)."""
    if not 0 < serial <= EXCEL_MAX_SERIAL:
        raise ParseError.of(gettext_noop("%(value)s is not an Excel date number."), {"value": serial})
    days = serial if serial >= 61 else serial + 1
    moment = _EXCEL_EPOCH + dt.timedelta(days=days)
    # Serials carry floating-point noise: round to the millisecond.
    micro = round(moment.microsecond / 1000) * 1000
    if micro == 1_000_000:
        moment = moment.replace(microsecond=0) + dt.timedelta(seconds=1)
    else:
        moment = moment.replace(microsecond=micro)
    return moment


def _serial_or_none(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()  # str.strip() also drops control characters float() refuses (e.g. "\x1f")
        if _SERIAL.fullmatch(text) and float(text) >= 10_000:
            return float(text)
    return None


def _naive_or_aware(text: str) -> dt.datetime | dt.date | None:
    """ISO first (fast path), then 2026/3/5, 2026.3.5, 2026年3月5日, 20260305, each with an optional time."""
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    match = _DATE.match(text) or _COMPACT.match(text)
    if not match:
        return None
    if match.re is _COMPACT:
        year, month, day = int(match.group(1) + match.group(2)), int(match.group(3)), int(match.group(4))
    else:
        year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    try:
        date = dt.date(year, month, day)
    except ValueError:
        raise ParseError.of(gettext_noop("“%(value)s” is not a real date."), {"value": text}) from None
    rest = text[match.end():].strip()
    if not rest:
        return date
    clock = _TIME.fullmatch(rest)
    if not clock:
        return None
    hour, minute = int(clock.group(1)), int(clock.group(2))
    second = int(clock.group(3) or 0)
    micro = int((clock.group(4) or "0").ljust(6, "0"))
    tz: dt.tzinfo | None = None
    if clock.group(5):
        offset = clock.group(5)
        if offset == "Z":
            tz = dt.UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
            tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    try:
        return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError:
        raise ParseError.of(gettext_noop("“%(value)s” is not a real time."), {"value": text}) from None


def _moment(value: Any) -> dt.datetime | dt.date:
    if isinstance(value, dt.datetime | dt.date):
        return value
    if type(value) is str and len(value) == 19 and value.isascii():  # fast path: 2026-03-05 14:30:00
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    serial = _serial_or_none(value)
    if serial is not None and (isinstance(value, int | float) or serial <= EXCEL_MAX_SERIAL):
        moment = from_excel_serial(serial)
        return moment.date() if serial.is_integer() else moment
    text = nfkc(cell_text(value)).strip()
    parsed = _naive_or_aware(text)
    if parsed is None:
        raise ParseError.of(gettext_noop(
            "“%(value)s” is not a date bcrm can read (use 2026-03-05, 2026/3/5 or 2026年3月5日)."), {"value": value})
    return parsed


def parse_date(value: Any) -> dt.date:
    moment = _moment(value)
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(time_zone())
        if moment.time() != dt.time(0):
            raise ParseError.of(gettext_noop(
                "“%(value)s” is a date and time; this column takes a date."), {"value": value})
        return moment.date()
    return moment


def parse_datetime(value: Any) -> dt.datetime:
    """Timezone-aware: a time without a zone is read in settings.TIME_ZONE; a date alone is its midnight."""
    moment = _moment(value)
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=time_zone())
    return moment


# ------------------------------------------------------------------------------------------- choices

def label_key(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold().strip().replace("_", " "))


def choice_lookup(choices, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Value, English label and Simplified Chinese label (from the translation catalogue) → value."""
    lookup: dict[str, str] = {}
    for value, _label in choices:
        lookup[label_key(str(value))] = str(value)
        lookup[str(value)] = str(value)
    for language in ("en", "zh-hans"):
        with translation.override(language):
            for value, label in choices:
                lookup.setdefault(label_key(str(label)), str(value))
    for word, value in (extra or {}).items():
        lookup.setdefault(label_key(word), value)
    return lookup


def label_words(choices) -> list[tuple[str, str]]:
    """(value, label key) for every label in English and Chinese, for matching a part of a label."""
    out: list[tuple[str, str]] = []
    for language in ("en", "zh-hans"):
        with translation.override(language):
            out.extend((str(value), label_key(str(label))) for value, label in choices)
    return out


def partial_choice(key: str, words: list[tuple[str, str]]) -> str | None:
    """The one choice whose label contains ``key`` as whole words (English) or as a run of at least two
    characters (Chinese): "bank" and "银行" are the commercial bank. None when no choice or several match."""
    if not key:
        return None
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in key)
    if chinese and len(key) < 2:
        return None
    if chinese:
        found = {value for value, label in words if key in label}
    else:
        pattern = re.compile(r"(?:^|\s)" + re.escape(key) + r"(?:$|\s)")
        found = {value for value, label in words if pattern.search(label)}
    return found.pop() if len(found) == 1 else None


def choice_error(value: Any, choices_class) -> ParseError:
    """"…is not one of": the allowed choices by label, code in brackets, in the reader's language."""
    with translation.override("en"):
        options = [{"template": CHOICE_OPTION, "params": {"label": {"template": str(label)}, "code": str(code)}}
                   for code, label in choices_class.choices]
    text = {"template": CHOICE_ERROR, "params": {"value": cell_text(value), "options": options}}
    return ParseError(texts.render(text), text=text)


def choice_parser(choices_class, extra: dict[str, str] | None = None) -> Callable[[Any], str]:
    """A parser for one TextChoices class: its value or its English or Chinese label, any case, or a part of
    one label that names it alone ("bank", "银行"). The lookup is built on first use (translations are loaded by
    then) and kept for the process."""
    cache: list[Any] = []

    def parse(value: Any) -> str:
        if not cache:
            cache.extend([choice_lookup(choices_class.choices, extra), label_words(choices_class.choices)])
        found = cache[0].get(value) if type(value) is str else None
        if found is None:
            key = label_key(cell_text(value))
            found = cache[0].get(key) or partial_choice(key, cache[1])
        if found is None:
            raise choice_error(value, choices_class)
        return found

    return parse
