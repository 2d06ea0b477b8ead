"""Geography texts of a CSV -> geography ids, never by a guess.

A text resolves, in this order, to: an id as written; an id or a name of the shipped table
(case and the kind of apostrophe do not matter; a name two geographies share, or one that is
another's id, is refused); else a country name
as other datasets spell it (`Kyrgyz Republic`, `Lao PDR`, `Egypt, Arab Rep.`, `Viet Nam`),
through country_converter's regular expressions. A text that matches no country, or more
than one, or that is part of another country's name (`Korea`: North Korea; `Congo`: the
Democratic Republic of the Congo) is refused with up to three suggestions.

country_converter (and the pandas it loads, about 0.6 s) is imported only when a text is
not an id or name of the table, so a file of ids never pays for it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from tracker.models import Catalog
from tracker.text import closest_few, name_key

MAX_SUGGESTIONS = 3
# The longest country name is about 55 characters ("United Kingdom of Great Britain and
# Northern Ireland"); country_converter's ~250 regular expressions take seconds on a text of
# 100,000 characters, so longer texts are refused without asking it.
MAX_NAME_LENGTH = 100


@cache
def _converter() -> Any:
    """country_converter's converter, built once per process."""
    import logging

    import country_converter

    # coco logs every text it cannot match; a refusal here is reported by ingest instead.
    logging.getLogger("country_converter").setLevel(logging.CRITICAL)
    return country_converter.CountryConverter()


@cache
def _country_names() -> tuple[tuple[str, str], ...]:
    """(name as text.name_key, ISO alpha-3) for country_converter's short and official names."""
    data = _converter().data
    pairs = []
    for column in ("name_short", "name_official"):
        for name, iso3 in zip(data[column], data["ISO3"], strict=True):
            if isinstance(name, str) and isinstance(iso3, str):
                pairs.append((name_key(name), iso3))
    return tuple(pairs)


def coco_matches(text: str) -> list[str]:
    """The ISO alpha-3 codes whose country_converter regular expression matches `text`."""
    found = _converter().convert(
        names=[text], src="regex", to="ISO3", not_found=None, enforce_list=True
    )
    codes = found[0] if found else []
    return [c for c in codes if isinstance(c, str) and c != text and re.fullmatch("[A-Z]{3}", c)]


class GeographyResolver:
    """Resolves each geography text once; remembers why a text was refused.

    `refused` maps a refused text to the ids it could mean (empty when it matched none).
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.refused: dict[str, tuple[str, ...]] = {}

    def __call__(self, text: str) -> str | None:
        if text in self.catalog.geography_names:  # an id as written always means itself
            return text
        key = name_key(text)
        known = self.catalog.geographies.get(key) or self.catalog.geographies.get(text.lower())
        if known is not None:
            return known
        if key in self.catalog.ambiguous_geographies:
            self.refused[text] = self.catalog.ambiguous_geographies[key]
            return None
        return self._country(text, key)

    def _country(self, text: str, key: str) -> str | None:
        names = self.catalog.geography_names
        if len(key) > MAX_NAME_LENGTH or not key.isprintable():
            self.refused[text] = ()
            return None
        matches = sorted(set(coco_matches(text)))
        if len(matches) == 1 and matches[0] in names:
            others = self._named_within(key, matches[0])
            if not others:
                return matches[0]
            matches = matches + others
        self.refused[text] = tuple(m for m in matches if m in names)[:MAX_SUGGESTIONS]
        return None

    def _named_within(self, key: str, match: str) -> list[str]:
        """Other countries with `key` as whole words in one of their names: `korea` is in
        `north korea`, so `Korea` alone could be either."""
        pattern = re.compile(rf"(?<!\w){re.escape(key)}(?!\w)")
        names = [(name_key(n), i) for i, n in self.catalog.geography_names.items()]
        others = {i for n, i in (*names, *_country_names()) if i != match and pattern.search(n)}
        return sorted(i for i in others if i in self.catalog.geography_names)

    def suggestion(self, text: str) -> str:
        """'; it could be ...' for a refused text, naming up to three ids with their names."""
        names = self.catalog.geography_names
        candidates = self.refused.get(text, ())
        if len(candidates) > 1:
            listed = " or ".join(f"'{c}' ({names[c]})" for c in candidates)
            return f"; it could be {listed}: write the id or the full name"
        if len(candidates) == 1:
            return f"; did you mean '{candidates[0]}' ({names[candidates[0]]})?"
        if len(text) > MAX_NAME_LENGTH:
            return ""
        by_name = {name_key(n): i for i, n in names.items()}
        close = closest_few(name_key(text), by_name, MAX_SUGGESTIONS, cutoff=0.75)
        ids = list(dict.fromkeys(by_name[c] for c in close))
        if not ids:
            return ""
        listed = ", ".join(f"'{i}' ({names[i]})" for i in ids)
        return f"; did you mean {listed}?"


@cache
def alpha2_country(code: str) -> tuple[str, str] | None:
    """(ISO alpha-3, short name) of an ISO 3166 alpha-2 code, as the IMF and the ECB write
    countries (`KZ` -> ('KAZ', 'Kazakhstan')); None for a code that is no country's."""
    if not re.fullmatch("[A-Z]{2}", code):
        return None
    data = _converter().data
    rows = data[data["ISO2"] == code]
    if len(rows) != 1:
        return None
    iso3, name = rows["ISO3"].iloc[0], rows["name_short"].iloc[0]
    return (iso3, name) if isinstance(iso3, str) and isinstance(name, str) else None
