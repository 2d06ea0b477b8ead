"""Units of measure: parse what a file says ("USD bn", "MW", "count") and scale between them.

A unit is a base (a currency code, "W" for power, "count", or any other word) times a scale
(1, thousand, million, billion, trillion). Currency conversion is not done here: money keeps
its currency and the views convert it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCALE_WORDS: dict[str, float] = {
    "": 1.0,
    "1": 1.0,
    "k": 1e3,
    "thousand": 1e3,
    "thousands": 1e3,
    "m": 1e6,
    "mn": 1e6,
    "mln": 1e6,
    "million": 1e6,
    "millions": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
    "billions": 1e9,
    "tn": 1e12,
    "trillion": 1e12,
    "trillions": 1e12,
}
SCALE_LABELS: dict[float, str] = {1.0: "", 1e3: "k", 1e6: "m", 1e9: "bn", 1e12: "tn"}
POWER_PREFIXES: dict[str, float] = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
POWER_LABELS: dict[float, str] = {1.0: "W", 1e3: "kW", 1e6: "MW", 1e9: "GW", 1e12: "TW"}
CURRENCY_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "¥": "CNY", "£": "GBP"}
COUNT_WORDS = {"count", "number", "no", "deals", "projects", "units"}

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_POWER = re.compile(r"^([kKmMgGtT]?)[wW]$")


@dataclass(frozen=True)
class Unit:
    """A unit: its dimension ('money', 'power', 'count' or another word), base and scale."""

    dimension: str
    base: str
    scale: float

    @property
    def label(self) -> str:
        """How the unit is written for readers, e.g. 'USD bn', 'GW', 'count'."""
        if self.dimension == "power":
            return POWER_LABELS.get(self.scale, f"{self.scale:g} W")
        scale = SCALE_LABELS.get(self.scale, f"x{self.scale:g}")
        return f"{self.base} {scale}".strip()

    def factor_to(self, other: Unit) -> float:
        """Multiplier turning a value in this unit into `other`'s scale (same dimension)."""
        return self.scale / other.scale


def parse_unit(text: str) -> Unit | None:
    """Parse a unit as written in a file; None when it is not recognised.

    >>> parse_unit("USD bn")
    Unit(dimension='money', base='USD', scale=1000000000.0)
    >>> parse_unit("MW").label
    'MW'
    """
    cleaned = " ".join(text.replace("_", " ").split())
    if not cleaned:
        return None
    tokens = cleaned.split(" ")
    if len(tokens) == 1:
        token = tokens[0]
        power = _POWER.match(token)
        if power:
            return Unit("power", "W", POWER_PREFIXES[power.group(1).lower()])
        if token.lower() in COUNT_WORDS:
            return Unit("count", "count", 1.0)
        for symbol, code in CURRENCY_SYMBOLS.items():
            if token.startswith(symbol) and token[len(symbol) :].lower() in SCALE_WORDS:
                return Unit("money", code, SCALE_WORDS[token[len(symbol) :].lower()])
        if _CURRENCY.match(token):
            return Unit("money", token, 1.0)
        return None
    if len(tokens) == 2:
        first, second = tokens
        currency = CURRENCY_SYMBOLS.get(first, first)
        if _CURRENCY.match(currency) and second.lower() in SCALE_WORDS:
            return Unit("money", currency, SCALE_WORDS[second.lower()])
        currency = CURRENCY_SYMBOLS.get(second, second)
        if _CURRENCY.match(currency) and first.lower() in SCALE_WORDS:
            return Unit("money", currency, SCALE_WORDS[first.lower()])
        if second.lower() in COUNT_WORDS and first.lower() in SCALE_WORDS:
            return Unit("count", "count", SCALE_WORDS[first.lower()])
    return None


def parse_scale_only(text: str) -> float | None:
    """A bare scale word ('bn', 'million') meaning 'the indicator's own unit at this scale'."""
    word = text.strip().lower()
    return SCALE_WORDS[word] if word in SCALE_WORDS and word not in {"", "1"} else None
