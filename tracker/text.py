"""The one formatter: how tracker writes a figure for readers, wherever it shows it.

The PDF and HTML briefing, the e-mail and the command line all call these functions, so a
figure reads the same everywhere: `USD 121.8 bn`, `EUR 306 bn`, `1,308 deals`, `156 GW`,
`94.8 %`, with its qualifier when it has one: `~22 GW`, `> USD 60 bn`, `at least 30 %`.
Pure functions of plain values; imports nothing of tracker.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal
from difflib import get_close_matches

NO_DATA = "no data yet"
# What a target row says when the only figures count another contributor (the US's USD 60 bn
# against the G7's USD 600 bn): a share of figures that count different things is never shown.
NO_COMPARABLE = "no comparable figure yet"
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in range(32)} | {10: "\\n", 13: "\\r", 9: "\\t"}
# Shown as \uXXXX: other controls (DEL, C1), invisible format characters (zero-width space,
# BOM, direction marks) and the Unicode line and paragraph separators.
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}
# How a qualified figure is written (observations.qualifier -> sign), and how a share or a
# projection computed from it is worded: a bound stays a bound.
QUALIFIER_SIGNS = {
    "approximate": "~", "more than": "> ", "at least": "≥ ", "less than": "< ", "up to": "≤ ",
}  # fmt: skip
QUALIFIER_WORDS = {
    "approximate": "about", "more than": "more than", "at least": "at least",
    "less than": "less than", "up to": "up to",
}  # fmt: skip


def qualified(text: str, qualifier: str | None) -> str:
    """A written figure with its qualifier's sign in front ('' and 'no data yet' stay).

    >>> qualified("22 GW", "approximate"), qualified("USD 60 bn", "more than"), qualified("5", None)
    ('~22 GW', '> USD 60 bn', '5')
    """
    if not qualifier or not text or text == NO_DATA:
        return text
    return QUALIFIER_SIGNS.get(qualifier, f"{qualifier} ") + text


def number(value: float | Decimal | None, qualifier: str | None = None) -> str:
    """A value as readers see it: thousands separated, one decimal (two below 10), no '.0'.
    A stored value (a Decimal) is rounded as the double nearest to it, so every figure reads
    as it did when values were stored as doubles.

    >>> number(1308.0), number(121.8), number(193.5527), number(0.95), number(None)
    ('1,308', '121.8', '193.6', '0.95', '')
    >>> number(22, "approximate"), number(Decimal("250.500000000000"))
    ('~22', '250.5')
    """
    if value is None:
        return ""
    value = float(value)
    if abs(value) < 10 and value != round(value):
        return qualified(f"{value:,.2f}".rstrip("0").rstrip("."), qualifier)
    return qualified(f"{value:,.1f}".removesuffix(".0"), qualifier)


def amount(
    value: float | Decimal | None,
    unit: str,
    currency: str | None = None,
    count_noun: str | None = None,
    qualifier: str | None = None,
) -> str:
    """A value with its unit: money in its own currency first, a count with its noun, the
    qualifier in front.

    >>> amount(121.8, "USD bn", "EUR"), amount(156, "GW"), amount(1308, "count", None, "deals")
    ('EUR 121.8 bn', '156 GW', '1,308 deals')
    >>> amount(1308, "count"), amount(None, "USD bn")
    ('1,308', 'no data yet')
    >>> amount(22, "GW", qualifier="approximate"), amount(60, "USD bn", qualifier="more than")
    ('~22 GW', '> USD 60 bn')
    """
    if value is None:
        return NO_DATA
    parts = unit.split()
    if parts and _CURRENCY.match(parts[0]):
        text = " ".join([currency or parts[0], number(value), *parts[1:]])
    elif parts and parts[0] == "count":
        text = " ".join([number(value), *parts[1:], *([count_noun] if count_noun else [])])
    else:
        text = f"{number(value)} {unit}".strip()
    return qualified(text, qualifier)


def unit_text(unit: str, currency: str | None = None, count_noun: str | None = None) -> str:
    """The unit as `amount` writes it after a number, alone: what an axis or a column of
    figures is measured in (money in its own currency, a count by its noun).

    >>> unit_text("USD bn"), unit_text("USD bn", "EUR"), unit_text("GW")
    ('USD bn', 'EUR bn', 'GW')
    >>> unit_text("count", None, "deals"), unit_text("count")
    ('deals', 'count')
    """
    parts = unit.split()
    if parts and _CURRENCY.match(parts[0]):
        return " ".join([currency or parts[0], *parts[1:]])
    if parts and parts[0] == "count":
        return " ".join([*parts[1:], count_noun or ("" if parts[1:] else "count")]).strip()
    return unit.strip()


def only(name: str | None) -> str:
    """What a figure of one contributor counts, as a label says it: 'United States only';
    '' for the programme as a whole.

    >>> only("United States"), only(None)
    ('United States only', '')
    """
    return f"{name} only" if name else ""


def percent(share: float | None, qualifier: str | None = None) -> str:
    """A share as a percentage with one decimal; a share of a qualified figure says so in
    words.

    >>> percent(0.948), percent(None), percent(0.3, "at least"), percent(0.1, "approximate")
    ('94.8 %', 'no data yet', 'at least 30.0 %', 'about 10.0 %')
    """
    if share is None:
        return NO_DATA
    word = QUALIFIER_WORDS.get(qualifier or "", qualifier)
    return f"{word + ' ' if word else ''}{share * 100:.1f} %"


def signed(value: float | Decimal) -> str:
    """A change with its sign.

    >>> signed(29.4), signed(-3.0), signed(0.0)
    ('+29.4', '-3', '+0')
    """
    return f"+{number(value)}" if value >= 0 else f"-{number(-value)}"


def change(delta: float | Decimal, share: float | None, previous_period: str) -> str:
    """A change against an earlier period, with its relative size when there is one.

    >>> change(29.4, 0.318, "2023"), change(-3.0, None, "2024-H1")
    ('+29.4 (+31.8\\xa0%) vs 2023', '-3 vs 2024-H1')
    """
    relative = "" if share is None else f" ({signed(share * 100)}\u00a0%)"
    return f"{signed(delta)}{relative} vs {previous_period}"


def exact(value: Decimal) -> str:
    """A stored value written exactly, every digit and no trailing zero (`tracker sql`,
    exports): what was entered, or a sum or difference of entered values.

    >>> exact(Decimal("250.500000000000")), exact(Decimal("1308.000")), exact(Decimal("-0E-12"))
    ('250.5', '1308', '0')
    """
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def did_you_mean(found: str, known: Iterable[str]) -> str:
    """' Did you mean 'x'?' naming the closest of `known` to `found`, or '' when none is close.

    >>> did_you_mean("programes-compared", ["programmes-compared", "country-profile"])
    " Did you mean 'programmes-compared'?"
    >>> did_you_mean("zzz", ["programmes-compared"])
    ''
    """
    match = closest(found, known)
    return f" Did you mean '{match}'?" if match else ""


def closest(found: str, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The name of `known` closest to `found` (difflib's ratio at least `cutoff`), or None:
    the one rule behind every suggestion tracker makes.

    >>> closest("KAZZ", ["KAZ", "KGZ"]), closest("zzz", ["KAZ"])
    ('KAZ', None)
    """
    close = closest_few(found, known, 1, cutoff)
    return close[0] if close else None


def duration(seconds: float) -> str:
    """A span of time for readers, rounded down to its largest unit: `45 s`, `22 min`,
    `2 h`, `3 d`."""
    whole = max(0, int(seconds))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if whole >= size:
            return f"{whole // size} {unit}"
    return f"{whole} s"


def show(text: str, limit: int = 80) -> str:
    """Text made safe for a one-line message: controls, line separators and invisible format
    characters (zero-width space, BOM, right-to-left marks) escaped, long text cut:
    'gfdc-bri-2023' and a zero-width space show as 'gfdc-bri-2023\\u200b'."""
    shown = text[: limit + 1].translate(_CONTROL_ESCAPES)
    if not shown.isprintable():
        shown = "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in _ESCAPED_CATEGORIES
                        else c for c in shown)  # fmt: skip
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def closest_few(found: str, known: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to `n` names of `known` closest to `found`, closest first, by the rule of `closest`.

    >>> closest_few("Nigr", ["Niger", "Nigeria", "Norway"])
    ['Niger', 'Nigeria']
    """
    return get_close_matches(found, list(known), n=n, cutoff=cutoff)


_APOSTROPHES = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc\u02b9\u2032\u00b4`", "'"))


def name_key(name: str) -> str:
    """A name as names are compared: case-folded, every apostrophe straight, white space
    collapsed.

    >>> name_key("Côte d\u2019Ivoire") == name_key("CÔTE  D'IVOIRE")
    True
    """
    return " ".join(name.translate(_APOSTROPHES).casefold().split())
