"""An article's sentences -> proposed figures: one row of the long CSV format a figure, with
how sure the extractor is (`confidence`) and what the analyst should check (`review`).

Rules, not a model (README "Extracting figures from articles"):
- A figure is an amount with a currency (`$121.8 billion`, `100 million yuan`), a unit
  (`156 gigawatts`, `30 percent`, `4,500 km`) or a counted noun (`369 overseas power
  projects`); its cell text is read by `tracker.ingest.figures.read_figure`, as a value
  cell of `tracker ingest` is. A qualifier written before it (`over`, `exceeded`, `nearly`)
  is kept.
- Its indicator is the one whose unit it fits and whose `keywords` the sentence names most;
  two equally named are both written (`a or b`), which ingest refuses until one is kept.
- Its period is the nearest one the sentence names (`in 2024`, `H1 2025`, `the third
  quarter of 2024`, `May 2025`, `this year`, `last year`) read against the article's date;
  with none, the article's date for a cumulative or level indicator.
- Its geography is a place named in its clause (else earlier in the sentence), through the
  resolver ingest uses; the sponsor of its initiative (China for the BRI) is the lender, not
  the place; a place the indicator's own keywords name wins; none named: WLD.
- A figure the sentence looks forward to (`on track to reach`, `expected to`, a year after the
  article's date) is a projection or a target, not an observation: it is not proposed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache

from tracker.articles.reading import Article
from tracker.ingest.figures import (
    APPROXIMATE,
    AT_LEAST,
    LESS_THAN,
    MORE_THAN,
    UP_TO,
    NumberReading,
    qualifier_of,
    read_figure,
)
from tracker.ingest.geographies import GeographyResolver, coco_matches
from tracker.models import Indicator
from tracker.units import Unit, counted_unit, fits, parse_unit

DRAFT_COLUMNS = (
    "indicator", "initiative", "geography", "period", "value", "unit", "source", "note",
    "qualifier", "confidence", "review",
)  # fmt: skip
OR = " or "  # joins readings the extractor cannot choose between; ingest refuses the cell

# Names of the programmes as articles write them (ids as in data/reference/initiatives.csv).
INITIATIVE_NAMES: dict[str, tuple[str, ...]] = {
    "BRI": ("Belt and Road", "Belt & Road", "BRI", "One Belt One Road", "One Belt, One Road",
            "OBOR", "New Silk Road", "Silk Road Economic Belt", "Maritime Silk Road"),
    "PGII": ("Partnership for Global Infrastructure and Investment",
             "Partnership for Global Infrastructure", "PGII", "PGI", "Build Back Better World",
             "B3W"),
    "GG": ("Global Gateway", "Team Europe"),
}  # fmt: skip
# Words written before a figure that qualify it, beyond those a value cell accepts.
ARTICLE_QUALIFIERS: dict[str, str] = {
    "nearly": APPROXIMATE, "almost": APPROXIMATE, "roughly": APPROXIMATE, "some": APPROXIMATE,
    "close to": APPROXIMATE, "an estimated": APPROXIMATE, "estimated": APPROXIMATE,
    "exceeded": MORE_THAN, "exceeding": MORE_THAN, "exceeds": MORE_THAN, "exceed": MORE_THAN,
    "surpassed": MORE_THAN, "surpassing": MORE_THAN, "topped": MORE_THAN, "above": MORE_THAN,
    "in excess of": MORE_THAN, "upwards of": MORE_THAN, "well over": MORE_THAN,
    "fewer than": LESS_THAN, "below": LESS_THAN, "just under": LESS_THAN,
    "as much as": UP_TO, "as many as": UP_TO,
}  # fmt: skip
_QUALIFIER_BEFORE = re.compile(
    r"(?:^|(?<=[\s(]))(?P<q>more than|over|about|around|approximately|approx\.|c\.|ca\.|"
    r"at least|up to|less than|under|"
    + "|".join(sorted(ARTICLE_QUALIFIERS, key=len, reverse=True))
    + r")\s+$",
    re.IGNORECASE,
)
_CURRENCY_WORDS = {
    "us dollars": "USD", "dollars": "USD", "euros": "EUR", "euro": "EUR", "yuan": "CNY",
    "renminbi": "CNY", "pounds sterling": "GBP", "pounds": "GBP", "yen": "JPY",
    "rupees": "INR", "roubles": "RUB", "rubles": "RUB",
}  # fmt: skip
_UNIT_WORDS = {
    "%": "%", "percent": "%", "per cent": "%", "percentage points": "pp",
    "gigawatts": "GW", "gigawatt": "GW", "gw": "GW", "megawatts": "MW", "megawatt": "MW",
    "mw": "MW", "kilowatts": "kW", "kw": "kW", "terawatts": "TW", "tw": "TW",
    "gwh": "GWh", "twh": "TWh", "mwh": "MWh",
    "kilometres": "km", "kilometers": "km", "kilometre": "km", "kilometer": "km", "km": "km",
    "tonnes": "t", "million tonnes": "Mt", "teu": "TEU", "teus": "TEU",
}  # fmt: skip
_SCALES = {
    "thousand": "thousand", "million": "million", "mn": "million", "m": "million",
    "billion": "billion", "bn": "billion", "b": "billion", "trillion": "trillion",
    "tn": "trillion", "trn": "trillion",
}  # fmt: skip
_CODES = "USD|EUR|CNY|RMB|GBP|JPY|INR|CHF|RUB|AUD|CAD|KRW|SAR|AED|BRL|ZAR|TRY|KZT|SGD"
_FIGURE = re.compile(
    r"(?<![\w.$€£¥/-])"
    rf"(?P<cur>US\$|\$|€|£|¥|(?:{_CODES})\s?)?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![\d,.]\d)"
    r"(?:[\s-]?(?P<scale>thousand|million|billion|trillion|trn|bn|mn|tn|m|b)(?![\w]))?"
    r"(?:\s?-?(?P<unit>%|per\s?cent\b|percentage points\b|gigawatts?\b|GW\b|megawatts?\b|"
    r"MW\b|kilowatts?\b|kW\b|terawatts?\b|TW\b|GWh\b|TWh\b|MWh\b|kilomet(?:er|re)s?\b|km\b|"
    r"million tonnes\b|tonnes\b|TEUs?\b|US dollars\b|dollars\b|euros?\b|yuan\b|renminbi\b|"
    r"pounds sterling\b|yen\b|rupees\b|roubles\b|rubles\b))?",
    re.IGNORECASE,
)
_NOUN_AFTER = r"^(?:\s+[A-Za-z][\w’'-]*){0,4}?\s+(?P<noun>%s)(?!\w)"
_CLAUSE_BREAK = re.compile(r",\s|;\s|:\s|\s[—–-]\s|—|–|\(|\)")
_FORWARD = re.compile(
    r"\b(?:on track to|on course to|expected to|set to|will|would|could|aims? to|aiming to|"
    r"plans? to|planned|is to|are to|targets?|targeting|goal|forecasts?|projected|"
    r"projections?|to reach|by the end of next)\b",
    re.IGNORECASE,
)
_CUMULATIVE_CUES = re.compile(
    r"\b(?:since|cumulative|cumulatively|in total|to date|so far|altogether|a total of|"
    r"by (?:19|20)\d{2}|by the end of)\b",
    re.IGNORECASE,
)
_MONTHS = {
    name: number
    for number, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
         ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
         ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
         ("december", "dec")], start=1)
    for name in names
}  # fmt: skip
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3,
             "4th": 4}  # fmt: skip
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_YEAR = r"(?:19|20)\d{2}"
_PERIOD = re.compile(
    rf"(?P<since>\bsince\s+)?(?:"
    rf"\b(?P<half>H[12])\s?-?\s?(?P<half_year>{_YEAR})\b|"
    rf"\b(?P<half_year2>{_YEAR})\s?-?\s?(?P<half2>H[12])\b|"
    rf"\b(?P<quarter>Q[1-4])\s?-?\s?(?P<quarter_year>{_YEAR})\b|"
    rf"\b(?P<quarter_year2>{_YEAR})\s?-?\s?(?P<quarter2>Q[1-4])\b|"
    rf"\b(?:the\s+)?(?P<half_word>first|second|1st|2nd)\s+half(?:\s+of)?(?:\s+(?P<half_word_year>{_YEAR}))?\b|"
    rf"\b(?:the\s+)?(?P<quarter_word>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter"
    rf"(?:\s+of)?(?:\s+(?P<quarter_word_year>{_YEAR}))?\b|"
    rf"\b(?P<month>{_MONTH_NAMES})\.?\s+(?:\d{{1,2}},?\s+)?(?P<month_year>{_YEAR})\b|"
    rf"\b(?:in|since|by|during)\s+(?P<month_alone>{_MONTH_NAMES})\b(?!\s+\d)|"
    rf"\b(?P<so_far>so far this year|year to date|this year so far)\b|"
    rf"\b(?P<relative>this|last|next)\s+year\b|"
    rf"(?<![\d.,$€£¥-])\b(?P<year>{_YEAR})\b(?![\d%]|[.,-]\d|\s?(?:percent|per cent))"
    rf")",
    re.IGNORECASE,
)
FLOW = "flow"


@dataclass(frozen=True)
class Proposal:
    """One proposed row of the draft: the cells of `DRAFT_COLUMNS` and the line it is from."""

    indicator: str
    initiative: str
    geography: str
    period: str
    value: str
    unit: str
    source: str
    note: str
    qualifier: str
    confidence: float
    review: str
    line: int

    def cells(self) -> list[str]:
        """The row's cells in the order of `DRAFT_COLUMNS`."""
        return [
            self.indicator, self.initiative, self.geography, self.period, self.value,
            self.unit, self.source, self.note, self.qualifier, f"{self.confidence:.2f}",
            self.review,
        ]  # fmt: skip


@dataclass(frozen=True)
class Passed:
    """A figure the article holds that is not proposed, and why."""

    line: int
    figure: str
    reason: str


@dataclass
class Extraction:
    """Every proposal in the order the article gives them, and the figures passed over."""

    proposals: list[Proposal] = field(default_factory=list)
    passed: list[Passed] = field(default_factory=list)


@dataclass(frozen=True)
class _Figure:
    start: int
    end: int
    text: str
    number: float
    unit: Unit
    unit_text: str  # as the draft writes it: 'USD bn', 'GW', 'deals', 'count'
    qualifier: str | None
    noun: str | None  # the counted noun, for counts ('projects')


@dataclass(frozen=True)
class _PeriodMention:
    start: int
    end: int
    text: str | None  # the canonical period, None when it cannot be read without a date
    since: bool
    year_to_date: bool
    review: str


@dataclass
class Extractor:
    """Proposes the figures of one article (see the module for the rules)."""

    indicators: Sequence[Indicator]
    resolver: GeographyResolver
    sponsors: dict[str, str]  # initiative id -> sponsor text (data/reference/initiatives.csv)
    published: date | None
    source: str
    segment: Callable[[str], list[str]]

    def __post_init__(self) -> None:
        self._sponsor_geographies: dict[str, set[str]] = {}
        for initiative, sponsor in self.sponsors.items():
            for place in self._places(sponsor):
                self._sponsor_geographies.setdefault(place[2], set()).add(initiative)
        self._keyword_places: dict[str, str] = {}
        for indicator in self.indicators:
            for keyword in indicator.keywords:
                found = self._places(keyword)
                if len(found) == 1 and found[0][1] - found[0][0] == len(keyword):
                    self._keyword_places[keyword.lower()] = found[0][2]

    def extract(self, article: Article) -> Extraction:
        """Every figure of `article` that fits an indicator, as a proposal or passed over."""
        result = Extraction()
        mentions = Counter(
            ini
            for block in article.blocks
            for ini, _, _ in _initiatives(block.text)  # noqa: B007
        )
        article_initiative = None
        if mentions:
            top, count = mentions.most_common(1)[0]
            if count * 3 >= sum(mentions.values()) * 2:
                article_initiative = top
        for block in article.blocks:
            previous_period: str | None = None
            for sentence in self.segment(block.text):
                sentence = sentence.strip()
                if not sentence:
                    continue
                previous_period = self._sentence(
                    sentence, block.line, article_initiative, previous_period, result
                )
        return result

    # --- one sentence ----------------------------------------------------------------------

    def _sentence(
        self,
        sentence: str,
        line: int,
        article_initiative: str | None,
        previous_period: str | None,
        result: Extraction,
    ) -> str | None:
        figures = _figures(sentence, [n for i in self.indicators if (n := i.count_noun)])
        masked = _mask(sentence, figures)
        periods = [m for m in _periods(masked, self.published)]
        explicit = [m.text for m in periods if m.text and not m.since and not m.year_to_date]
        clauses = _clauses(sentence)
        previous_end = 0
        for figure in figures:
            others = [f.start for f in figures if f is not figure]
            self._figure(
                sentence, line, figure, periods, clauses, previous_end, article_initiative,
                previous_period, others, result,
            )  # fmt: skip
            previous_end = figure.end
        return explicit[-1] if explicit else previous_period

    def _figure(
        self,
        sentence: str,
        line: int,
        figure: _Figure,
        periods: list[_PeriodMention],
        clauses: list[tuple[int, int]],
        previous_end: int,
        article_initiative: str | None,
        previous_period: str | None,
        others: list[int],
        result: Extraction,
    ) -> None:
        shown = figure.text
        before = sentence[previous_end : figure.start]
        if _FORWARD.search(before):
            cue = _FORWARD.search(before)
            assert cue is not None
            result.passed.append(
                Passed(line, shown, f"looked forward to ('{cue.group(0)}'): a projection or "
                       "target, not an observation")
            )  # fmt: skip
            return
        candidates = self._indicators(sentence, figure, clauses)
        if not candidates:
            if figure.noun or figure.unit.dimension != "count":
                result.passed.append(Passed(line, shown, "fits no indicator's unit and keywords"))
            return
        review: list[str] = [f"line {line}"]
        penalty = 0.0
        best = candidates[0][1]
        top = [ind for ind, score, _ in candidates if score == best]
        hits = candidates[0][2]
        if len(top) > 1:
            review.append(f"indicator: {OR.join(i.id for i in top)} fit equally; keep one")
            penalty += 0.4
        elif len(hits) < 2:
            review.append(f"indicator from one keyword ('{hits[0]}')")
            penalty += 0.2
        indicator = top[0]
        clause = _clause_of(clauses, figure.start)
        # period
        period, period_review, period_penalty, qualifier = self._period(
            sentence, figure, periods, indicator, previous_period
        )
        if period and self.published and _starts_after(period, self.published):
            result.passed.append(
                Passed(line, shown, f"its period {period} is after the article's date "
                       f"({self.published.isoformat()}): a projection, not an observation")
            )  # fmt: skip
            return
        if period_review:
            review.append(period_review)
        penalty += period_penalty
        # initiative
        initiative, ini_review, ini_penalty = self._initiative(
            sentence, figure, clause, article_initiative, indicator
        )
        if ini_review:
            review.append(ini_review)
        penalty += ini_penalty
        # geography
        geography, geo_review, geo_penalty = self._geography(
            sentence, figure, clauses, initiative, indicator, hits, others
        )
        if geo_review:
            review.append(geo_review)
        penalty += geo_penalty
        merged, agree = _merge_qualifiers(figure.qualifier, qualifier)
        if not agree:
            review.append(
                f"qualifier: '{figure.qualifier}' and '{qualifier}' (year to date); write one"
            )
            penalty += 0.3
        confidence = round(max(0.05, min(1.0, 1.0 - penalty)), 2)
        result.proposals.append(
            Proposal(
                indicator=OR.join(i.id for i in top),
                initiative=initiative,
                geography=geography,
                period=period,
                value=_plain(figure.number),
                unit=self._unit_text(figure, indicator),
                source=self.source,
                note=sentence,
                qualifier=merged or "",
                confidence=confidence,
                review="; ".join(review),
                line=line,
            )
        )

    # --- indicator -------------------------------------------------------------------------

    def _indicators(
        self, sentence: str, figure: _Figure, clauses: list[tuple[int, int]]
    ) -> list[tuple[Indicator, float, list[str]]]:
        """Indicators the figure fits, best first: (indicator, score, keywords named)."""
        clause = _clause_of(clauses, figure.start)
        cumulative_cue = bool(_CUMULATIVE_CUES.search(sentence))
        scored = []
        for indicator in self.indicators:
            wanted = _indicator_unit(indicator)
            if wanted is None or not fits(figure.unit, wanted):
                continue
            if indicator.count_noun and figure.unit.dimension == "count":
                if figure.noun is None or _singular(figure.noun) != _singular(indicator.count_noun):
                    continue
            hits = [k for k in indicator.keywords if _keyword(k).search(sentence)]
            if not hits:
                continue
            near = [k for k in hits if _keyword(k).search(sentence, clause[0], clause[1])]
            score = len(hits) + 0.5 * len(near)
            if indicator.count_noun and figure.noun:
                score += 1
            if indicator.measure == FLOW:
                score += 0.25 if not cumulative_cue else 0
            else:
                score += 0.25 if cumulative_cue else 0
            scored.append((indicator, score, hits))
        scored.sort(key=lambda item: -item[1])
        return scored

    def _unit_text(self, figure: _Figure, indicator: Indicator) -> str:
        if figure.unit.dimension == "count" and figure.noun:
            return figure.unit_text if parse_unit(figure.unit_text) else "count"
        return figure.unit_text

    # --- period ----------------------------------------------------------------------------

    def _period(
        self,
        sentence: str,
        figure: _Figure,
        periods: list[_PeriodMention],
        indicator: Indicator,
        previous_period: str | None,
    ) -> tuple[str, str, float, str | None]:
        """(period, review, penalty, qualifier it implies) for a figure."""
        usable = [m for m in periods if not m.since]
        if usable:
            nearest = min(usable, key=lambda m: _distance(m, figure))
            if nearest.text is None:
                return "", nearest.review, 0.5, None
            if nearest.year_to_date:
                if indicator.measure == FLOW:
                    return nearest.text, nearest.review, 0.1, AT_LEAST
                assert self.published is not None
                return self.published.isoformat(), nearest.review, 0.1, None
            return nearest.text, nearest.review, 0.05 if nearest.review else 0.0, None
        since = [m for m in periods if m.since]
        if indicator.measure != FLOW:
            if self.published is None:
                return "", "no date in the sentence and no --published: write the period", 0.5, None
            what = f"'{since[0].text}' to the article's date" if since else "the article's date"
            return (
                self.published.isoformat(),
                f"period: {what} (the sentence states no date)",
                0.15,
                None,
            )
        if previous_period is not None:
            return previous_period, "period from the previous sentence", 0.25, None
        return "", "no period in the sentence: write the period", 0.5, None

    # --- initiative ------------------------------------------------------------------------

    def _initiative(
        self,
        sentence: str,
        figure: _Figure,
        clause: tuple[int, int],
        article_initiative: str | None,
        indicator: Indicator,
    ) -> tuple[str, str, float]:
        if indicator.context:
            return "", "", 0.0
        named = _initiatives(sentence)
        in_clause = {i for i, s, _ in named if clause[0] <= s < clause[1]}
        if len(in_clause) == 1:
            return in_clause.pop(), "", 0.0
        if len(in_clause) > 1:
            both = OR.join(sorted(in_clause))
            return both, f"initiative: the clause names {both}; keep one", 0.4
        sponsors = {
            ini
            for place in self._places(sentence[clause[0] : clause[1]])
            for ini in self._sponsor_geographies.get(place[2], ())
        }
        actors = {s for s in sponsors if len(self._initiatives_of(s)) == 1}
        if len(actors) == 1:
            actor = actors.pop()
            return actor, f"initiative {actor}: its sponsor is named beside the figure", 0.1
        in_sentence = {i for i, _, _ in named}
        if len(in_sentence) == 1:
            return in_sentence.pop(), "", 0.05
        if len(in_sentence) > 1:
            both = OR.join(sorted(in_sentence))
            return both, f"initiative: the sentence names {both}; keep one", 0.4
        if article_initiative is not None:
            return article_initiative, f"initiative {article_initiative} from the article", 0.15
        if indicator.default_initiative:
            return (
                indicator.default_initiative,
                f"initiative {indicator.default_initiative}: the indicator's default",
                0.2,
            )
        return "", "no initiative named: write it", 0.4

    def _initiatives_of(self, initiative: str) -> set[str]:
        """The initiatives that share `initiative`'s sponsor (China: BRI and CHN_ODF)."""
        return {
            other
            for place, initiatives in self._sponsor_geographies.items()
            if initiative in initiatives
            for other in initiatives
        }

    # --- geography -------------------------------------------------------------------------

    def _geography(
        self,
        sentence: str,
        figure: _Figure,
        clauses: list[tuple[int, int]],
        initiative: str,
        indicator: Indicator,
        hits: list[str],
        others: list[int],
    ) -> tuple[str, str, float]:
        from_keywords = {
            self._keyword_places[k.lower()] for k in hits if k.lower() in self._keyword_places
        }
        if len(from_keywords) == 1:
            place = from_keywords.pop()
            return place, f"geography {place}: the indicator's own", 0.0
        # The sponsors of programmes (China, the United States) lend or invest; a figure of a
        # programme is about the place it goes to, never about its sponsor.
        lenders = set(self._sponsor_geographies)
        index = next(i for i, c in enumerate(clauses) if c[0] <= figure.start < c[1])
        for number in range(index, -1, -1):
            start, end = clauses[number]
            if number < index and any(start <= other < end for other in others):
                break  # an earlier clause with a figure of its own: its places are its own
            found: list[str] = []
            for _, _, place in self._places(sentence[start:end]):
                if place not in lenders and place not in found:
                    found.append(place)
            if len(found) == 1:
                return found[0], "", 0.0
            if len(found) > 1:
                listed = OR.join(found)
                return listed, f"geography: {listed} named; keep one", 0.4
        return "WLD", "no place named: WLD (world) assumed", 0.1

    def _places(self, text: str) -> list[tuple[int, int, str]]:
        return _places(text, self.resolver)


# --- helpers ---------------------------------------------------------------------------------


def _figures(sentence: str, count_nouns: Sequence[str]) -> list[_Figure]:
    """The amounts of a sentence that have a currency, a unit or a counted noun."""
    nouns = sorted({*count_nouns, *(n.rstrip("s") for n in count_nouns)}, key=len, reverse=True)
    noun_after = re.compile(_NOUN_AFTER % "|".join(re.escape(n) for n in nouns), re.IGNORECASE)
    found: list[_Figure] = []
    for match in _FIGURE.finditer(sentence):
        cur, num, scale, unit = match["cur"], match["num"], match["scale"], match["unit"]
        scale_word = _SCALES.get((scale or "").lower(), "")
        if scale and scale.lower() in ("m", "b") and not cur:
            scale_word = ""  # '5 m' is metres, '7 b' nothing: a bare letter scales money only
        end = match.end() if (scale_word or unit) else match.end("num")
        noun = None
        if cur is None and unit is None:
            after = noun_after.match(sentence[end:]) if nouns else None
            if after is None:
                continue  # a bare number: a year, a rank, a count of what no indicator counts
            noun = after["noun"].lower()
            end += after.end()
        qualifier = None
        before = _QUALIFIER_BEFORE.search(sentence[max(0, match.start() - 24) : match.start()])
        start = match.start()
        if before:
            word = before["q"].lower()
            qualifier = qualifier_of(word) or ARTICLE_QUALIFIERS.get(word)
            start -= len(sentence[max(0, match.start() - 24) : match.start()]) - before.start()
        cell = _cell(cur, num, scale_word, unit)
        reading = read_figure(cell, NumberReading(None, ","))
        if reading.number is None:
            continue
        number, unit_text = float(reading.number), reading.unit or ""
        if noun is not None:
            number *= {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}.get(
                scale_word, 1.0
            )
            unit_text = noun
        parsed = parse_unit(unit_text) if unit_text else None
        if noun is not None and parsed is None:
            parsed = Unit("count", "count", 1.0)
        if parsed is None:
            continue
        label = parsed.label if noun is None else unit_text
        found.append(
            _Figure(start, end, sentence[start:end].strip(), number, parsed, label, qualifier, noun)
        )
    return found


def _cell(cur: str | None, num: str, scale: str, unit: str | None) -> str:
    """The figure as a value cell of `tracker ingest` writes it ('$121.8 billion')."""
    unit_key = " ".join((unit or "").lower().split())
    if unit_key in _CURRENCY_WORDS and cur is None:
        return f"{_CURRENCY_WORDS[unit_key]} {num} {scale}".strip()
    if cur is not None:
        return f"{cur.strip()}{' ' if len(cur.strip()) == 3 else ''}{num} {scale}".strip()
    if unit_key:
        unit_key = unit_key.replace("per cent", "percent").replace(" ", " ")
        word = _UNIT_WORDS.get(unit_key) or _UNIT_WORDS.get(unit_key.replace("percent", "per cent"))
        word = word or _UNIT_WORDS.get(unit_key.rstrip("s"), unit or "")
        return f"{num} {scale + ' ' if scale else ''}{word}".strip()
    return num


def _mask(sentence: str, figures: Sequence[_Figure]) -> str:
    """The sentence with its figures blanked out, so '2,024 deals' is never read as a year."""
    chars = list(sentence)
    for figure in figures:
        chars[figure.start : figure.end] = " " * (figure.end - figure.start)
    return "".join(chars)


def _periods(text: str, published: date | None) -> list[_PeriodMention]:
    """The periods a sentence names, read against the article's date where they need it."""
    mentions = []
    for match in _PERIOD.finditer(text):
        groups = {k: v for k, v in match.groupdict().items() if v}
        since = "since" in groups
        review = ""
        canonical: str | None = None
        year_to_date = False
        if "half" in groups or "half2" in groups:
            year_text = groups.get("half_year") or groups["half_year2"]
            canonical = f"{year_text}-{(groups.get('half') or groups['half2']).upper()}"
        elif "quarter" in groups or "quarter2" in groups:
            year_text = groups.get("quarter_year") or groups["quarter_year2"]
            canonical = f"{year_text}-{(groups.get('quarter') or groups['quarter2']).upper()}"
        elif "half_word" in groups or "quarter_word" in groups:
            kind, number = (
                ("H", _ORDINALS[groups["half_word"].lower()])
                if "half_word" in groups
                else ("Q", _ORDINALS[groups["quarter_word"].lower()])
            )
            year_text = groups.get("half_word_year") or groups.get("quarter_word_year")
            if year_text is None:
                if published is None:
                    review = f"'{match.group(0).strip()}' with no year and no --published"
                else:
                    year_text = str(published.year)
                    review = f"'{match.group(0).strip()}' read as of {published.year}"
            canonical = f"{year_text}-{kind}{number}" if year_text else None
        elif "month" in groups:
            canonical = f"{groups['month_year']}-{_MONTHS[groups['month'].lower()]:02d}"
        elif "month_alone" in groups:
            month = _MONTHS[groups["month_alone"].lower()]
            if published is None:
                review = f"'{match.group(0).strip()}' with no year and no --published"
            else:
                year = published.year if month <= published.month else published.year - 1
                canonical = f"{year}-{month:02d}"
                review = f"'{match.group(0).strip()}' read as {canonical}"
        elif "so_far" in groups:
            year_to_date = True
            if published is None:
                review = f"'{groups['so_far']}' with no --published"
            else:
                canonical = str(published.year)
                review = (
                    f"'{groups['so_far']}': to {published.isoformat()}; a flow is written as "
                    f"{published.year}, at least"
                )
        elif "relative" in groups:
            word = groups["relative"].lower()
            if published is None:
                review = f"'{word} year' with no --published"
            else:
                year = published.year + {"this": 0, "last": -1, "next": 1}[word]
                canonical = str(year)
                review = f"'{word} year' read as {year} (article of {published.isoformat()})"
        elif "year" in groups:
            canonical = groups["year"]
        if since and canonical is None and "year" not in groups:
            continue
        mentions.append(
            _PeriodMention(match.start(), match.end(), canonical, since, year_to_date, review)
        )
    return mentions


def _distance(mention: _PeriodMention, figure: _Figure) -> int:
    if mention.end <= figure.start:
        return figure.start - mention.end
    if mention.start >= figure.end:
        return mention.start - figure.end
    return 0


def _starts_after(period: str, published: date) -> bool:
    from tracker.periods import parse_period

    parsed = parse_period(period)
    return parsed is not None and parsed.start > published


def _merge_qualifiers(written: str | None, implied: str | None) -> tuple[str | None, bool]:
    """The qualifier of a figure written with one ('over') and read with another ('so far
    this year': at least), and whether the two can be one."""
    if implied is None or written is None or written == implied:
        return written or implied, True
    if implied == AT_LEAST and written == MORE_THAN:
        return written, True
    return written, False


def _clauses(sentence: str) -> list[tuple[int, int]]:
    """(start, end) of each clause: the parts between commas, semicolons, colons, dashes and
    brackets (a comma inside a number, '4,500', has no space after it)."""
    spans, start = [], 0
    for match in _CLAUSE_BREAK.finditer(sentence):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(sentence)))
    return spans


def _clause_of(clauses: list[tuple[int, int]], position: int) -> tuple[int, int]:
    return next((c for c in clauses if c[0] <= position < c[1]), clauses[-1])


def _initiatives(text: str) -> list[tuple[str, int, int]]:
    """(initiative id, start, end) of each programme the text names."""
    found = []
    for initiative, pattern in _initiative_patterns():
        found += [(initiative, m.start(), m.end()) for m in pattern.finditer(text)]
    return found


@cache
def _initiative_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    patterns = []
    for initiative, names in INITIATIVE_NAMES.items():
        alternatives = "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in names)
        # An acronym must be written in capitals ('BRI', not 'bri'); a name in any case.
        patterns.append((initiative, re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")))
    return tuple(patterns)


@cache
def _keyword(keyword: str) -> re.Pattern[str]:
    """A keyword as whole words in any case; a plural or adjective ending (-s, -es, -n, -ns)
    also matches ('Central Asia' in 'Central Asian')."""
    words = re.escape(keyword).replace(r"\ ", r"\s+")
    return re.compile(rf"(?<!\w){words}(?:s|es|n|ns)?(?!\w)", re.IGNORECASE)


def _indicator_unit(indicator: Indicator) -> Unit | None:
    unit = parse_unit(indicator.unit)
    return None if unit is None else counted_unit(unit, indicator.count_noun)


def _singular(noun: str) -> str:
    return noun.lower().removesuffix("s")


_WORD = re.compile(r"[A-Za-z][\w’'.&-]*")
_POSSESSIVE = re.compile(r"(?:’s|'s|’|')$")
MAX_PLACE_WORDS = 6


def _places(text: str, resolver: GeographyResolver) -> list[tuple[int, int, str]]:
    """(start, end, geography id) of each place `text` names, longest names first: runs of
    capitalised words the resolver knows (`Kazakhstan`, `Central Asia`, `U.S.`). A name two
    geographies share is given as both ('sub-saharan-africa or SSF')."""
    words = list(_WORD.finditer(text))
    found: list[tuple[int, int, str]] = []
    index = 0
    while index < len(words):
        if not words[index].group(0)[0].isupper():
            index += 1
            continue
        matched = False
        for last in range(min(len(words), index + MAX_PLACE_WORDS) - 1, index - 1, -1):
            if not words[last].group(0)[0].isupper():
                continue
            start, end = words[index].start(), words[last].end()
            name = _POSSESSIVE.sub("", text[start:end])
            if not name.endswith("U.S.") and not re.search(r"\b[A-Z]\.$", name):
                name = name.rstrip(".")
            place = resolver(name)
            if place is None and resolver.refused.get(name):
                options = resolver.refused[name]
                if len(options) > 1 and name.lower() in _lower_names(resolver):
                    place = OR.join(options)  # a name two geographies share: both, for review
                else:
                    # Refused as part of a longer name ('U.S.' of 'U.S. Virgin Islands'): the
                    # longer names were tried first, so in running text it is the one country.
                    matches = coco_matches(name)
                    if len(matches) == 1 and matches[0] in resolver.catalog.geography_names:
                        place = matches[0]
            if place is not None:
                found.append((start, end, place))
                index = last + 1
                matched = True
                break
        if not matched:
            index += 1
    return found


def _lower_names(resolver: GeographyResolver) -> set[str]:
    """Geography names as written in the table, lower-cased (a shared name is one of them)."""
    return {name.lower() for name in resolver.catalog.geography_names.values()}


def _plain(value: float) -> str:
    """A value as the CSV cell writes it: no grouping, no exponent, no trailing zeros."""
    text = format(Decimal(repr(value)).normalize(), "f")
    return text.removesuffix(".0") if "." in text else text
