"""The state of one `ingest.prepare` call: checked options, catalog lookups, the codes shared
by all its files, the problems found, and the new sources the files cite.

Each distinct text of a column of few distinct values is resolved once to a canonical id
with an integer code (`Codes`); codes are shared by all files of a call, so a key built from
them is comparable across files.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from tracker.ingest.columns import COL, FILE, ROW, dtype
from tracker.ingest.csv_text import Table, categories, per_category
from tracker.ingest.figures import DECIMAL_LOCALES, NumberReading, check_locale
from tracker.ingest.geographies import GeographyResolver
from tracker.models import CONTEXT_INITIATIVE, Catalog
from tracker.periods import FiscalYear, Period, fiscal_period, parse_fiscal_label, parse_period
from tracker.text import closest
from tracker.text import show as show  # part of ingest's interface
from tracker.units import Unit, counted_unit, parse_scale_only, parse_unit

SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# Curly and low quotes as the straight ones a keyboard types: a citation copied from a
# word processor names the same source.
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
                         "\u2032": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
                         "\u201f": '"', "\u2033": '"'})  # fmt: skip


def base_name(path: str) -> str:
    """A file's name without its folders ('../csv/x.csv', 'C:\\a\\x.csv' -> 'x.csv'): a
    source's note names the file it was first cited in, never where the analyst keeps it, since
    the note reaches briefings, e-mails and manifest.json."""
    return re.split(r"[/\\]", path)[-1]


def citation_key(text: str) -> str:
    """How two citations of one source compare: case, runs of white space and straight vs
    curly quotes do not count ('IMF  “Article IV”' is 'imf "article iv"')."""
    return " ".join(text.translate(_QUOTES).casefold().split())


@dataclass(frozen=True)
class IngestOptions:
    """How to read the files: `--source`, `--encoding`, `--delimiter`."""

    source: str | None = None  # a source id or citation for rows whose source is empty
    encoding: str = "utf-8"  # any Python codec name; utf-8 accepts a byte-order mark
    delimiter: str | None = None  # None: ',' unless the header has no ',' but ';' or a tab
    locale: str | None = None  # how numbers are written, a Babel locale id ('de', 'en_IN')
    decimal: str | None = None  # or only the decimal mark, '.' or ','

    # Neither: numbers are read as English writes them, and one that another locale reads
    # differently (or only another locale reads) is refused as ambiguous.


def visible(text: str) -> str:
    """The text without invisible format characters (Unicode category Cf: zero-width space,
    soft hyphen, BOM, direction marks), as a reader sees it."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


# --- problems ------------------------------------------------------------------------------


class Problems:
    """Problems as found: whole messages, and cell problems as frames (rendered lazily)."""

    def __init__(self) -> None:
        self.texts: list[tuple[int, int, int, str]] = []  # (file, line, column, message)
        self.cells: list[pl.DataFrame] = []  # CELL_SCHEMA

    def add(self, file_no: int, line: int, message: str, column_no: int = -1) -> None:
        self.texts.append((file_no, line, column_no, message))

    def add_cells(self, frame: pl.DataFrame) -> None:
        if frame.height:
            self.cells.append(frame.select(pl.col(c).cast(t) for c, t in CELL_SCHEMA.items()))

    @property
    def total(self) -> int:
        return len(self.texts) + sum(frame.height for frame in self.cells)


CELL_SCHEMA: dict[str, pl.DataType] = {
    FILE: dtype(FILE), ROW: dtype(ROW), COL: dtype(COL), "column": pl.String(),
    "found": pl.String(), "kind": pl.String(), "detail": pl.String(),
}  # fmt: skip


# --- codes ---------------------------------------------------------------------------------


class Codes:
    """Distinct texts of one column resolved to canonical ids with integer codes.

    Codes are shared by all files of a state, so a key built from codes is comparable across
    files. `resolve` returns the canonical id, or None when the text is not acceptable.
    """

    def __init__(self, resolve: Callable[[str], str | None]) -> None:
        self.resolve = resolve
        self.ids: list[str] = []
        self._code_of_id: dict[str, int] = {}
        self._code_of_text: dict[str, int | None] = {}

    def code(self, canonical: str) -> int:
        if canonical not in self._code_of_id:
            self._code_of_id[canonical] = len(self.ids)
            self.ids.append(canonical)
        return self._code_of_id[canonical]

    def resolve_text(self, text: str) -> int | None:
        """The code of a text as written (None when blank or not acceptable)."""
        if text not in self._code_of_text:
            canonical = self.resolve(text.strip()) if text.strip() else None
            self._code_of_text[text] = None if canonical is None else self.code(canonical)
        return self._code_of_text[text]

    def expressions(self, frame: pl.DataFrame, name: str, code: str, blank: str) -> list[pl.Expr]:
        """For categorical column `name`: its codes as column `code` (null when unknown or
        blank) and whether it is blank as column `blank`; each category is resolved once."""
        texts = categories(frame, name)
        is_blank = pl.col(name).is_null()
        blanks = [not text.strip() for text in texts]
        if any(blanks):
            is_blank = is_blank | per_category(frame, name, blanks, pl.Boolean())
        # Only the categories rows use: the categories also hold texts no row has (the
        # header's), and resolving a geography text may load country_converter.
        used = set(frame.get_column(name).to_physical().unique().drop_nulls().to_list())
        codes = [self.resolve_text(text) if i in used else None for i, text in enumerate(texts)]
        return [
            per_category(frame, name, codes, pl.UInt32()).alias(code),
            is_blank.alias(blank),
        ]

    def lookup(self, values: Sequence[object], dtype: pl.DataType, code: str) -> pl.Expr:
        """An expression picking `values[code]` for the codes in column `code`."""
        return pl.lit(pl.Series(values, dtype=dtype)).gather(pl.col(code))


SCALE_OR_UNIT = frozenset({"m"})  # a million of money or counts; a metre otherwise
FISCAL_PENDING = "?"  # starts the code of a fiscal-year label awaiting its indicator's year


def canonical_period(text: str) -> str | None:
    """A period's canonical text; a fiscal-year label ('FY2025') as '?FY2025', to be given
    dates by each row's indicator (`IngestState.fiscal_code`)."""
    period = parse_period(text)
    if period is not None:
        return period.text
    label = parse_fiscal_label(text)
    return None if label is None else FISCAL_PENDING + label.text


def canonical_unit(text: str) -> str | None:
    """'dimension|base|scale' for a full unit, '||scale' for a bare scale word ('m' is a
    million of the indicator's unit, not a metre)."""
    scale = parse_scale_only(text)
    if scale is not None:
        unit = parse_unit(text) if text in SCALE_OR_UNIT else None
        other = f"|{unit.dimension}|{unit.scale!r}" if unit else ""
        return f"||{scale!r}{other}"  # '||1e6|length|1.0': a million, or a metre
    unit = parse_unit(text)
    return None if unit is None else f"{unit.dimension}|{unit.base}|{unit.scale!r}"


def unit_facts(canonical: str) -> tuple[str | None, str | None, float]:
    """(dimension, base, scale) of a unit code's canonical text; a bare scale word has
    neither dimension nor base."""
    dimension, base, scale = canonical.split("|")[:3]
    return dimension or None, base or None, float(scale)


def unit_alternative(canonical: str) -> tuple[str, float] | None:
    """(dimension, scale) of the unit a bare scale word also is ('m': a metre), or None."""
    parts = canonical.split("|")
    return (parts[3], float(parts[4])) if len(parts) == 5 else None


# --- one run of prepare --------------------------------------------------------------------


class IngestState:
    """State of one `prepare` call: options, lookups, codes, problems, tables read."""

    def __init__(self, catalog: Catalog, options: IngestOptions, files: list[str]) -> None:
        self.catalog = catalog
        self.files = files
        self.problems = Problems()
        self.warnings: list[str] = []
        self.tables: dict[int, Table] = {}
        self.new_sources: dict[str, tuple[str, str | None]] = {}  # id -> (title, url)
        self.source_file: dict[str, str] = {}  # new source id -> first file using it
        self.indicator_units = {
            i.id: counted_unit(Unit(i.dimension, i.base_unit, i.multiplier, i.unit), i.count_noun)
            for i in catalog.indicators.values()
        }
        self.initiatives_by_lower = {i.lower(): i for i in catalog.initiatives}
        self.indicators_by_lower = {i.lower(): i for i in catalog.indicators}
        self.indicator_codes = Codes(lambda t: self.indicators_by_lower.get(t.lower()))
        self.initiative_codes = Codes(lambda t: self.initiatives_by_lower.get(t.lower()))
        self.geographies = GeographyResolver(catalog)
        self.geography_codes = Codes(self.geographies)
        self.period_codes = Codes(canonical_period)
        self.fiscal_periods: dict[str, Period] = {}  # period code id -> a fiscal year
        self.unit_codes = Codes(canonical_unit)
        self.source_keys: dict[str, set[str]] = {}  # citation_key of an id, title, url -> ids
        for mapping in (
            {i: i for i in catalog.sources},
            catalog.source_titles,
            catalog.source_urls,
        ):
            for text, source_id in mapping.items():
                self.source_keys.setdefault(citation_key(text), set()).add(source_id)
        self.new_source_keys: dict[str, str] = {}  # citation_key -> new source id
        self.source_codes = Codes(self._resolve_source)
        self.dimensions: dict[str, int] = {}
        self.currencies: list[str] = []
        self._currency_codes: dict[str, int] = {}
        self.option_problems = self._check_options(options)

    def fiscal_code(self, indicator: str, pending: str) -> int | None:
        """The period code of a fiscal-year label ('?FY2025') under the fiscal year of
        `indicator`; None when it declares none or the label does not fit it."""
        info = self.catalog.indicators[indicator]
        label = parse_fiscal_label(pending.removeprefix(FISCAL_PENDING))
        fiscal = FiscalYear.of(info.fiscal_year_start_month, info.fiscal_year_named_by)
        if fiscal is None or label is None:
            return None
        period = fiscal_period(label, fiscal)
        if period is None:
            return None
        if period.grain != "fiscal_year":  # a fiscal year starting in January: the year
            return self.period_codes.code(period.text)
        key = f"{period.text}@{period.start.isoformat()}"  # one code per text and dates
        self.fiscal_periods[key] = period
        return self.period_codes.code(key)

    def period_of(self, code_id: str) -> Period | None:
        """The period a period code stands for (None for a label still awaiting dates)."""
        return self.fiscal_periods.get(code_id) or parse_period(code_id)

    def fiscal_refusal(self, indicator: str) -> str:
        """Why a fiscal-year label was refused for `indicator`, and what to do."""
        if self.catalog.indicators[indicator].fiscal_year_start_month is None:
            return (
                f"a fiscal year, but indicator '{indicator}' declares none; add "
                'fiscal_year = {start_month = 4, named_by = "end"} (its own) to '
                f"indicators/{indicator}.toml (see README), or give the calendar period"
            )
        return (
            f"a fiscal year over two calendar years, but indicator '{indicator}' has its "
            "fiscal year start in January; expected FY2024 or 2024"
        )

    def dimension_code(self, dimension: str) -> int:
        return self.dimensions.setdefault(dimension, len(self.dimensions))

    def currency_code(self, currency: str) -> int:
        if currency not in self._currency_codes:
            self._currency_codes[currency] = len(self.currencies)
            self.currencies.append(currency)
        return self._currency_codes[currency]

    def _check_options(self, options: IngestOptions) -> bool:
        before = self.problems.total
        self.encoding = "utf-8"
        try:
            self.encoding = codecs.lookup(options.encoding).name
            b"".decode(self.encoding)  # a text encoding, not a transform such as rot13
        except LookupError:
            self.problems.add(
                -1, 0, f"--encoding: found '{show(options.encoding)}', expected a Python "
                "codec name such as utf-8, latin-1 or cp1252",
            )  # fmt: skip
        self.delimiter = options.delimiter
        if self.delimiter in ("\\t", "tab", "TAB"):
            self.delimiter = "\t"
        if self.delimiter is not None and (
            len(self.delimiter) != 1 or not self.delimiter.isascii() or self.delimiter in '"\r\n'
        ):
            self.problems.add(
                -1, 0, f"--delimiter: found '{show(self.delimiter)}', expected one character "
                "such as ',' ';' '|' or a tab (\\t)",
            )  # fmt: skip
        self._check_number_options(options)
        self.default_source: int | None = None
        if options.source is not None and options.source.strip():
            canonical = self._resolve_source(options.source.strip())
            if canonical is None:
                hint = self.suggestion("source", options.source.strip())
                self.problems.add(
                    -1, 0, f"--source: found '{show(options.source)}', unknown source{hint}"
                )
            else:
                self.default_source = self.source_codes.code(canonical)
        return self.problems.total > before

    def _check_number_options(self, options: IngestOptions) -> None:
        """--locale and --decimal: a locale Babel knows, or '.' or ','; not both."""
        self.locale: str | None = None
        self.any_group = False
        if options.locale is not None and options.decimal is not None:
            self.problems.add(
                -1, 0, f"--locale {show(options.locale)} and --decimal {show(options.decimal)} "
                "both given; give one (--decimal says only the decimal mark)",
            )  # fmt: skip
        elif options.locale is not None:
            self.locale = check_locale(options.locale)
            if self.locale is None:
                self.problems.add(
                    -1, 0, f"--locale: found '{show(options.locale)}', expected a locale "
                    "such as en, de, fr, de_CH or en_IN",
                )  # fmt: skip
        elif options.decimal is not None:
            self.locale = DECIMAL_LOCALES.get(options.decimal.strip())
            self.any_group = True
            if self.locale is None:
                self.problems.add(
                    -1, 0, f"--decimal: found '{show(options.decimal)}', expected '.' or ','"
                )

    def number_reading(self, delimiter: str) -> NumberReading:
        """How to read the numbers of a file separated by `delimiter`."""
        return NumberReading(self.locale, delimiter, self.any_group)

    def decimal_symbol(self, locale: str) -> str:
        """The decimal mark of a locale ('.' in en, ',' in de)."""
        from tracker.ingest.figures import decimal_symbol

        return decimal_symbol(locale)

    def _resolve_source(self, text: str) -> str | None:
        """The source a `source` cell or `--source` names: an id, or a citation equal (by
        `citation_key`) to a known source's id, title or URL, or else a new source; None
        for an unknown id, or a citation that two sources share."""
        if text in self.catalog.sources:
            return text
        if text in self.catalog.source_titles:
            return self.catalog.source_titles[text]
        key = citation_key(text)
        known = self.source_keys.get(key, set())
        if len(known) == 1:
            return next(iter(known))
        if known:
            return None  # two sources answer to it: never guessed (see `suggestion`)
        if SOURCE_ID.match(text) or SOURCE_ID.match(visible(text)):
            return None  # an unknown id (or one with an invisible character), not a citation
        if key in self.new_source_keys:  # cited earlier in this call, spelt otherwise
            return self.new_source_keys[key]
        new_id = "src-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
        url = text if re.match(r"^https?://", text, re.IGNORECASE) else None
        self.new_sources[new_id] = (text, url)
        self.new_source_keys[key] = new_id
        return new_id

    def suggestion(self, what: str, found: str) -> str:
        """'; did you mean ...?' with the closest known name, else what is expected."""
        catalog = self.catalog
        if what == "geography":
            hint = self.geographies.suggestion(found)
            if hint:
                return hint
        if what == "source":
            shared = sorted(self.source_keys.get(citation_key(found), ()))
            if len(shared) > 1:
                return (
                    f": it names {len(shared)} sources ({', '.join(shared)}), by id, title "
                    "or URL; write the id of the one meant"
                )
        if what != "geography":
            known = {
                "indicator": catalog.indicators,
                "initiative": catalog.initiatives,
                "source": catalog.sources,
            }.get(what, ())
            match = closest(found, sorted(known))
            if match:
                return f"; did you mean '{match}'?"
        return {
            "indicator": "; run `tracker indicators` to list them",
            "initiative": "; expected one of "
            + ", ".join(sorted(self.catalog.initiatives - {CONTEXT_INITIATIVE})),
            "geography": "; expected an ISO alpha-3 code, a region id or a name from "
            "data/reference/geographies.csv",
            "source": "; a source id must be in data/reference/sources.csv (free text with "
            "spaces that is no known source's id, title or URL is registered as a new source)",
        }.get(what, "")

    def line_of(self, file_no: int, row: int) -> int:
        return self.tables[file_no].line_of(row)

    def new_sources_frame(self) -> pl.DataFrame:
        used = [i for i in self.new_sources if i in self.source_file]
        return pl.DataFrame(
            {
                "id": used,
                "title": [self.new_sources[i][0] for i in used],
                "url": [self.new_sources[i][1] for i in used],
                "kind": ["unspecified"] * len(used),
                "note": [
                    f"registered by tracker ingest from {base_name(self.source_file[i])}"
                    for i in used
                ],
            },
            schema={c: pl.String for c in ("id", "title", "url", "kind", "note")},
        )
