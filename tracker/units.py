"""Units of measure: parse what a file says ("USD bn", "MW", "count", "km", "Mt", "%",
"pp", "million TEU") and scale between units of one dimension.

A unit is a dimension (money, power, count, length, mass, ...), a base unit of that
dimension (a currency code, "W", "count", "m", "t", ...) and a scale: the unit is `scale`
base units. Money (a currency and a scale word), power (W with a prefix) and plain counts
are read here directly; any other unit through pint, its default registry plus
`tracker/unit_definitions.txt` (TEU, deals, projects, people, percentage points), loaded
from files installed with the packages and imported only when such a unit is read.
Currency conversion is not done here: money keeps its currency and the views convert it.
Per cent (a share) and percentage points (a change of a share) are different dimensions,
and so is each counted noun: deals never convert to projects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

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
COUNT_WORDS = {"count", "number", "no", "units"}
SCALE_NAMES: dict[float, str] = {1e3: "thousand", 1e6: "million", 1e9: "billion",
                                 1e12: "trillion"}  # fmt: skip
# pint's dimensionality -> (tracker's name of the dimension, its base unit in pint, label)
PINT_DIMENSIONS: dict[str, tuple[str, str, str]] = {
    "[length]": ("length", "meter", "m"),
    "[length] ** 2": ("area", "meter ** 2", "m²"),
    "[length] ** 3": ("volume", "meter ** 3", "m³"),
    "[mass]": ("mass", "metric_ton", "t"),
    "[mass] * [length] ** 2 / [time] ** 3": ("power", "watt", "W"),
    "[mass] * [length] ** 2 / [time] ** 2": ("energy", "watt_hour", "Wh"),
    "dimensionless": ("share", "percent", "%"),
    "[percentage_point]": ("percentage points", "percentage_point", "pp"),
    "[deal]": ("deals", "deal", "deals"),
    "[project]": ("projects", "project", "projects"),
    "[person]": ("people", "person", "people"),
    "[container]": ("TEU", "TEU", "TEU"),
}
# Dimensions whose figures are counts of things: a plain `count` fits each of them.
COUNT_DIMENSIONS = frozenset({"count", "deals", "projects", "people", "TEU"})
# Shares pint knows; its other dimensionless units (radian, count, ...) are not shares.
SHARE_UNITS = frozenset({"percent", "permille", "ppm"})
NOUN_LABELS = {"deal": "deals", "project": "projects", "person": "people"}
# The count nouns of tracker/unit_definitions.txt as pint reads them, so an indicator that
# counts deals costs no pint import (0.2 s) on every ingest; a test keeps the two equal.
OWN_COUNT_NOUNS: dict[str, Unit] = {}
PHRASES = [
    (re.compile(r"\b(?:percentage|per ?cent(?:age)?) points?\b|\bp\.p\.|% ?points?\b",
                re.IGNORECASE), "percentage_point"),
    (re.compile(r"\bper ?cent\b", re.IGNORECASE), "percent"),
]  # fmt: skip
MAX_PINT_TEXT = 40

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_POWER = re.compile(r"^([kKmMgGtT]?)[wW]$")


@dataclass(frozen=True)
class Unit:
    """A unit: its dimension ('money', 'power', 'count', 'length', ...), base and scale; `name`
    is how readers see a unit read through pint ('km', 'Mt', '%', 'million TEU')."""

    dimension: str
    base: str
    scale: float
    name: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        """How the unit is written for readers, e.g. 'USD bn', 'GW', 'count', 'km'."""
        if self.name:
            return self.name
        if self.dimension == "power":
            return POWER_LABELS.get(self.scale, f"{self.scale:g} W")
        scale = SCALE_LABELS.get(self.scale, f"x{self.scale:g}")
        return f"{self.base} {scale}".strip()

    def factor_to(self, other: Unit) -> float:
        """Multiplier turning a value in this unit into `other`'s scale (same dimension)."""
        return self.scale / other.scale


OWN_COUNT_NOUNS.update(
    {
        word: Unit(dimension, base, 1.0, name)
        for words, (dimension, base, name) in {
            ("deal", "deals"): ("deals", "deals", "deals"),
            ("project", "projects"): ("projects", "projects", "projects"),
            ("person", "persons", "people"): ("people", "people", "people"),
            ("teu", "twenty_foot_equivalent_unit"): ("TEU", "TEU", "TEU"),
        }.items()
        for word in words
    }
    | {
        "feu": Unit("TEU", "TEU", 2.0, "FEU"),
        "forty_foot_equivalent_unit": Unit("TEU", "TEU", 2.0, "FEU"),
    }
)


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
        if _is_currency(token):
            return Unit("money", token, 1.0)
    if len(tokens) == 2:
        first, second = tokens
        currency = CURRENCY_SYMBOLS.get(first, first)
        if _is_currency(currency) and second.lower() in SCALE_WORDS:
            return Unit("money", currency, SCALE_WORDS[second.lower()])
        currency = CURRENCY_SYMBOLS.get(second, second)
        if _is_currency(currency) and first.lower() in SCALE_WORDS:
            return Unit("money", currency, SCALE_WORDS[first.lower()])
        if second.lower() in COUNT_WORDS and first.lower() in SCALE_WORDS:
            return Unit("count", "count", SCALE_WORDS[first.lower()])
    return _pint_unit(cleaned)


def _is_currency(code: str) -> bool:
    """A three-letter code that is not one of tracker's own units (TEU)."""
    return bool(_CURRENCY.match(code)) and code not in own_unit_names()


@cache
def own_unit_names() -> frozenset[str]:
    """The names and aliases tracker/unit_definitions.txt defines, read without pint."""
    text = resources.files("tracker").joinpath("unit_definitions.txt").read_text("utf-8")
    names: set[str] = set()
    for line in text.splitlines():
        parts = [part.strip() for part in line.split("=")]
        if len(parts) > 1 and not line.startswith("#"):  # name = definition = aliases...
            names.update([parts[0], *parts[2:]])
    return frozenset(names - {"_"})


def fits(given: Unit, wanted: Unit) -> bool:
    """Whether a value in `given` converts to `wanted`: the same dimension, or a plain count
    given for a count of something (deals, TEU).

    >>> fits(parse_unit("m"), parse_unit("km")), fits(parse_unit("%"), parse_unit("pp"))
    (True, False)
    """
    if given.dimension == wanted.dimension:
        return True
    return given.dimension == "count" and wanted.dimension in COUNT_DIMENSIONS


def counted_unit(unit: Unit, count_noun: str | None) -> Unit:
    """An indicator's unit as rows must fit it: a plain `count` of a noun pint knows
    (count_noun 'deals') is a count of that noun, so rows in 'projects' are refused."""
    if unit.dimension != "count" or not count_noun:
        return unit
    # Every count dimension is one of tracker's own (unit_definitions.txt): a noun that is not
    # one of them ('countries') is a plain count, without asking pint.
    noun = OWN_COUNT_NOUNS.get(count_noun.strip().lower())
    if noun is None or noun.dimension not in COUNT_DIMENSIONS:
        return unit
    return Unit(noun.dimension, noun.base, unit.scale * noun.scale, unit.label)


def _pint_unit(cleaned: str) -> Unit | None:
    """A unit read through pint, optionally after a scale word ('million TEU'); None when
    pint does not know it or its dimension is not one tracker reads (PINT_DIMENSIONS)."""
    if len(cleaned) > MAX_PINT_TEXT or not cleaned.isprintable():
        return None
    first, _, rest = cleaned.partition(" ")
    scale = SCALE_WORDS.get(first.lower()) if rest else None
    if scale is not None and scale != 1.0:
        unit = _pint_unit(rest)
        if unit is None or unit.dimension not in COUNT_DIMENSIONS:
            return None  # 'million t' reads better as 'Mt'; a scale word only for counts
        name = f"{SCALE_NAMES.get(scale, f'{scale:g}')} {unit.name}"
        return Unit(unit.dimension, unit.base, unit.scale * scale, name)
    for phrase, replacement in PHRASES:
        cleaned = phrase.sub(replacement, cleaned)
    registry = unit_registry()
    try:
        units = registry.parse_units(cleaned.replace(" ", "_"))
        dimension, base, base_label = PINT_DIMENSIONS[str(units.dimensionality)]
        if dimension == "share" and str(units) not in SHARE_UNITS:
            return None
        factor = float(registry.Quantity(1.0, units).to(base).magnitude)
    except Exception:  # pint raises many kinds for text it cannot read; all mean 'unknown'
        return None
    name = NOUN_LABELS.get(str(units)) or format(units, "~P")
    return Unit(dimension, base_label, factor, name)


@cache
def unit_registry() -> Any:
    """pint's registry: its default definitions and tracker/unit_definitions.txt, both
    installed files (nothing is fetched). pint is imported here, on first use."""
    import pint

    registry: Any = pint.UnitRegistry(cache_folder=None)
    definitions = resources.files("tracker").joinpath("unit_definitions.txt")
    with resources.as_file(definitions) as path:
        registry.load_definitions(str(path))
    return registry


def parse_scale_only(text: str) -> float | None:
    """A bare scale word ('bn', 'million') meaning 'the indicator's own unit at this scale'."""
    word = text.strip().lower()
    return SCALE_WORDS[word] if word in SCALE_WORDS and word not in {"", "1"} else None
