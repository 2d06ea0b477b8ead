"""A value cell as analysts write it -> its number, qualifier and unit, or why it is refused.

`~22`, `>60`, `more than 60`, `$121.8bn`, `USD 121.8 billion`, `€300 bn`, `RMB 5 million`,
`22 gigawatts`, `340 deals`, `1.234,5` (with `--locale de`). Numbers are read by Babel
(`babel.numbers.parse_decimal`, strict) under the locale the user chose; without one, a
number is read as English writes it (`1,234.5`), and one that another common locale reads
differently, or that only another locale reads, is refused naming each reading and the option
that picks it: a figure is never read one way silently when it could mean another.

Only cells that are not plain numbers come here (see `ingest.values`); each distinct text is
read once. Babel is imported here only, and only when a cell needs it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

# Canonical qualifiers, as stored in observations.qualifier, and the words that mean each.
APPROXIMATE, MORE_THAN, AT_LEAST, LESS_THAN, UP_TO = (
    "approximate", "more than", "at least", "less than", "up to",
)  # fmt: skip
QUALIFIERS = (APPROXIMATE, MORE_THAN, AT_LEAST, LESS_THAN, UP_TO)
QUALIFIER_WORDS: dict[str, str] = {
    "~": APPROXIMATE, "≈": APPROXIMATE, "about": APPROXIMATE, "around": APPROXIMATE,
    "approximately": APPROXIMATE, "approx.": APPROXIMATE, "c.": APPROXIMATE,
    "ca.": APPROXIMATE, "approximate": APPROXIMATE,
    ">": MORE_THAN, "over": MORE_THAN, "more than": MORE_THAN,
    "≥": AT_LEAST, ">=": AT_LEAST, "at least": AT_LEAST,
    "<": LESS_THAN, "under": LESS_THAN, "less than": LESS_THAN,
    "≤": UP_TO, "<=": UP_TO, "up to": UP_TO,
}  # fmt: skip
QUALIFIERS_ACCEPTED = "~, ≈, about, around, approximately, c., >, over, more than, ≥, at least, "
QUALIFIERS_ACCEPTED += "<, under, less than, ≤, up to (or approximate), or nothing"

# Currency signs written before a number. '¥' is both yen and yuan: refused, not guessed.
CURRENCY_SIGNS = {"US$": "USD", "$": "USD", "€": "EUR", "£": "GBP"}
AMBIGUOUS_SIGNS = {"¥": "CNY (yuan) or JPY (yen)"}
CURRENCY_ALIASES = {"RMB": "CNY"}  # renminbi: the currency whose unit is the yuan
POWER_WORDS = {
    "watt": "W", "watts": "W", "kilowatt": "kW", "kilowatts": "kW", "megawatt": "MW",
    "megawatts": "MW", "gigawatt": "GW", "gigawatts": "GW", "terawatt": "TW", "terawatts": "TW",
}  # fmt: skip

# Locales compared when the user named none; English is the one that reads.
DEFAULT_LOCALE = "en"
CANDIDATE_LOCALES = ("en", "de", "fr", "de_CH", "en_IN")
DECIMAL_LOCALES = {".": "en", ",": "de"}  # --decimal: the locale whose symbols it means
_SPACES = " \u00a0\u202f\u2009"
_APOSTROPHES = "'\u2019"

_QUALIFIER = re.compile(
    r"^(?P<q>~|≈|≥|≤|>=|<=|>|<|approx\.|c\.|ca\.|(?:about|around|approximately|over|"
    r"more than|at least|under|less than|up to)(?=[\s$€£¥]|[0-9]))\s*",
    re.IGNORECASE,
)
_AMOUNT = re.compile(
    r"^(?P<sign>[+-]?)(?:(?P<cur>US\$|[$€£¥]|[A-Za-z]{3}(?=[\s0-9+-]))\s*)?(?P<sign2>[+-]?)"
    rf"(?P<num>(?:[0-9][0-9.,{_SPACES}{_APOSTROPHES}]*[0-9]|[0-9])(?:[eE][+-]?[0-9]+)?)"
    r"\s*(?P<rest>.*)$",
    re.DOTALL,
)


@dataclass(frozen=True)
class NumberReading:
    """How to read numbers: a locale the user chose (None: compare the candidates)."""

    locale: str | None  # a Babel locale id ('de', 'en_IN'), or None
    delimiter: str  # the file's delimiter: in a ',' file a comma cannot be a decimal comma
    any_group: bool = False  # --decimal: a space or an apostrophe also groups digits


@dataclass(frozen=True)
class Figure:
    """What a value cell says: the number, its qualifier, the unit written in the cell (a
    unit text such as 'USD bn', 'GW', 'deals', 'bn'), or why it is refused (`problem`)."""

    number: Decimal | None = None  # exactly as written: '250,5' under de is Decimal('250.5')
    qualifier: str | None = None
    unit: str | None = None
    problem: str | None = None


def qualifier_of(text: str) -> str | None:
    """The canonical qualifier a word or sign means ('>' -> 'more than'); None if none."""
    return QUALIFIER_WORDS.get(" ".join(text.lower().split()))


def check_locale(name: str) -> str | None:
    """The Babel locale id for `name` ('de-CH' -> 'de_CH'), or None when Babel has none."""
    from babel import Locale, UnknownLocaleError

    try:
        return str(Locale.parse(name.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def read_figure(text: str, reading: NumberReading) -> Figure:
    """Read one value cell (already trimmed).

    >>> read_figure("~22 GW", NumberReading(None, ","))
    Figure(number=Decimal('22'), qualifier='approximate', unit='GW', problem=None)
    >>> read_figure("$121.8bn", NumberReading(None, ",")).unit
    'USD bn'
    """
    qualifier = None
    match = _QUALIFIER.match(text)
    if match:
        qualifier = qualifier_of(match.group("q"))
        text = text[match.end() :]
    amount = _AMOUNT.match(text)
    if amount is None or (amount.group("sign") and amount.group("sign2")):
        return Figure(problem=_not_a_number(reading))
    currency, rest = amount.group("cur"), amount.group("rest").strip()
    unit = None
    if currency is not None:
        if currency in AMBIGUOUS_SIGNS:
            return Figure(problem=f"'{currency}' is {AMBIGUOUS_SIGNS[currency]}; write the code "
                          "(CNY 5 bn, JPY 5 bn)")  # fmt: skip
        code = CURRENCY_SIGNS.get(currency) or currency.upper()
        if not (currency.isupper() or currency in CURRENCY_SIGNS):
            return Figure(problem=_not_a_number(reading))
        code = CURRENCY_ALIASES.get(code, code)
        unit = f"{code} {rest}".strip()
    elif rest:
        unit = POWER_WORDS.get(rest.lower(), rest)
    number = _number(amount.group("num"), reading)
    if isinstance(number, str):
        return Figure(problem=number)
    if "-" in (amount.group("sign"), amount.group("sign2")):
        number = -number
    return Figure(number=number, qualifier=qualifier, unit=unit)


def _number(text: str, reading: NumberReading) -> Decimal | str:
    """The number `text` means under `reading`, or a problem (ambiguous, not a number)."""
    if reading.locale is not None:
        value = _parse(text, reading.locale, reading.any_group)
        if value is None:
            return _not_a_number(reading)
        return value
    readings = {locale: _parse(text, locale) for locale in CANDIDATE_LOCALES}
    english = readings[DEFAULT_LOCALE]
    others = {v for v in readings.values() if v is not None and v != english}
    if english is not None and (not others or reading.delimiter == ","):
        # In a ','-separated file English is the reading: a writer whose decimal mark is a
        # comma does not separate fields with one, so `"1,053"` there groups thousands.
        return english
    if english is None and not others:
        return _not_a_number(reading)
    return _ambiguous(text, readings)


def _ambiguous(text: str, readings: dict[str, Decimal | None]) -> str:
    by_value: dict[Decimal, list[str]] = {}
    for locale, value in readings.items():
        if value is not None:
            by_value.setdefault(value, []).append(locale)
    described = " or ".join(f"{_plain(value)} {_option(locs)}" for value, locs in by_value.items())
    if readings[DEFAULT_LOCALE] is None:
        described += " but is not a number with a decimal point (1,234.5)"
    return (
        f"ambiguous: it reads {described}; run again with --decimal or --locale to say how "
        "this file writes numbers"
    )


def _option(locales: Sequence[str]) -> str:
    """How to pick a reading: '--decimal .' or '--decimal ,', or else the locale."""
    if "en" in locales:
        return "with a decimal point (--decimal . or --locale en)"
    if any(loc in ("de", "fr") for loc in locales):
        return "with a decimal comma (--decimal , or --locale " + _first(locales, "de", "fr") + ")"
    return f"with --locale {locales[0]}"


def _first(locales: Sequence[str], *preferred: str) -> str:
    return next(loc for loc in preferred if loc in locales)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _not_a_number(reading: NumberReading) -> str:
    if reading.locale is None:
        return "expected a number"
    return f"expected a number as written under --locale {reading.locale} ({_example(reading)})"


def _example(reading: NumberReading) -> str:
    from babel.numbers import format_decimal

    assert reading.locale is not None
    return str(format_decimal(1234.5, locale=reading.locale))


def decimal_symbol(locale: str) -> str:
    """The decimal mark of `locale` ('.' in en, ',' in de)."""
    return _symbols(locale)[0]


@cache
def _symbols(locale: str) -> tuple[str, str]:
    """(decimal symbol, group symbol) of a locale."""
    from babel.numbers import get_decimal_symbol, get_group_symbol

    return get_decimal_symbol(locale), get_group_symbol(locale)


def _parse(text: str, locale: str, any_group: bool = False) -> Decimal | None:
    """`text` read strictly under `locale` (a space of any width groups digits where the
    locale groups with a space; a straight apostrophe where it groups with a curly one;
    with `any_group`, both group digits whatever the locale's own group symbol)."""
    from babel.numbers import NumberFormatError, parse_decimal

    _, group = _symbols(locale)
    if any_group:
        text = re.sub(f"[{_SPACES}{_APOSTROPHES}]", group, text)
    elif group in _SPACES:
        text = re.sub(f"[{_SPACES}]", group, text)
    elif group in _APOSTROPHES:
        text = re.sub(f"[{_APOSTROPHES}]", group, text)
    try:
        value = parse_decimal(text, locale=locale, strict=True)
    except (NumberFormatError, ValueError, ArithmeticError):
        return None
    return value
