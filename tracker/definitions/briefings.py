"""Briefing definition files (`reports/<name>.toml`) -> validated `BriefingDefinition` models,
with their parameters (`[params.<name>]`, see tracker.briefing.variants).

Each file is checked against `tracker/definitions/schemas/report.schema.json`; errors name
the file and the key. Texts that go into an e-mail header (the title is the Subject) are one
line without control characters; recipients and owners are one e-mail address each (checked
with email-validator, offline); sections and charts are limited (MAX_SECTIONS, MAX_CHARTS).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tracker.definitions.indicators import dates_to_text
from tracker.errors import DefinitionError, InputError, UnknownNameError
from tracker.models import (
    BRIEFING_FORMATS,
    CHART_MARKS,
    KEY_MESSAGE_KINDS,
    MAX_KEY_MESSAGES,
    PARAM_SCHEDULES,
    PARAM_VALUE_QUERIES,
    BriefingDefinition,
    BriefingParam,
    BriefingSchedule,
    NameReference,
    SectionSpec,
    SeriesChartSpec,
)
from tracker.periods import parse_period
from tracker.text import did_you_mean, show

REPORT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\.html$")
DEFAULT_TEMPLATE = "briefing.html"
# Far beyond any real briefing (the shipped ones have 7 sections and 3 charts); also in the
# schema as maxItems. Without a limit, 10,000 charts render for hours.
MAX_SECTIONS = 100
MAX_CHARTS = 50  # per series section
# One-line texts: the title is the e-mail Subject; all are shown on one line.
ONE_LINE_FIELDS = ("title", "audience", "cadence")
# Control characters (CR, LF, tab, NUL, DEL, C1) and the Unicode line and paragraph separators.
_NOT_ONE_LINE = {"Cc", "Zl", "Zp"}


@cache
def briefing_schema() -> dict[str, Any]:
    """The JSON Schema every briefing definition file must satisfy."""
    text = resources.files("tracker.definitions").joinpath("schemas/report.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def check_briefing_name(name: str) -> str:
    """Refuse a briefing name that is not a plain name (a path, '..', NUL, upper case).

    >>> check_briefing_name("programmes-compared")
    'programmes-compared'
    """
    if not REPORT_NAME.match(name):
        shown = name.replace("\0", "\\0")
        why = (
            "it holds a path or a NUL character"
            if any(part in name for part in ("/", "\\", "..", "\0"))
            else "it is not a plain name"
        )
        raise InputError(
            f"Report name '{shown}' refused: {why}. Give the name of a file in reports/ "
            "without '.toml', made of a-z, 0-9, '-' and '_' (e.g. programmes-compared)."
        )
    return name


def briefing_files(folder: Path) -> list[Path]:
    """The briefing definition files in `folder` (not its subfolders), sorted by name."""
    if not folder.is_dir():
        raise DefinitionError(f"{folder}: reports folder not found; set TRACKER_HOME.")
    return sorted(p for p in folder.iterdir() if p.suffix == ".toml" and p.is_file())


def find_briefing(folder: Path, name: str) -> Path:
    """The definition file of briefing `name`; UnknownNameError (with a close match) if none."""
    check_briefing_name(name)
    path = folder / f"{name}.toml"
    if path.is_file():
        return path
    known = [p.stem for p in briefing_files(folder)]
    hint = did_you_mean(name, known)
    raise UnknownNameError(
        f"Unknown report '{name}': there is no {path}.{hint} "
        f"Known: {', '.join(known) or 'none'}. `tracker reports` lists them."
    )


def load_briefings(folder: Path, templates: Path) -> list[BriefingDefinition]:
    """Read and validate every briefing definition in `folder`."""
    return [load_briefing(path, templates) for path in briefing_files(folder)]


def load_briefing(path: Path, templates: Path) -> BriefingDefinition:
    """Read one briefing definition; DefinitionError names the file and key on any problem.

    Names of indicators, initiatives and geographies are only collected here (see
    `NameReference`); `check_briefing_names` checks them against the database.
    """
    check_briefing_name(path.stem)
    raw = path.read_bytes()
    document = _document(path, raw)
    _check_header_texts(path, document)
    template = _template(path, document, templates)
    formats = _formats(path, document)
    params = _params(path, document)
    _check_placeholders(path, document, params)
    references: list[NameReference] = []
    sections = _sections(path, document, references)
    window = document.get("window", {})
    return BriefingDefinition(
        name=path.stem,
        title=document["title"],
        audience=document["audience"],
        cadence=document.get("cadence", ""),
        template=template,
        formats=formats,
        window_start=_window(path, window, "start"),
        window_end=_window(path, window, "end"),
        sections=sections,
        schedule=_schedule(document),
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        references=tuple(references),
        params=params,
    )


def _document(path: Path, raw: bytes) -> dict[str, Any]:
    """The file's TOML (dates as text), checked against the briefing schema."""
    try:
        document: dict[str, Any] = dates_to_text(tomllib.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DefinitionError(f"{path}: not valid TOML: {error}") from None
    import jsonschema  # here, not at the top: commands that read no definition skip it

    validator = jsonschema.Draft202012Validator(briefing_schema())
    problems = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if problems:
        first = problems[0]
        key = ".".join(str(part) for part in first.absolute_path) or "(top level)"
        message = first.message
        if first.validator == "maxItems":  # not jsonschema's message: it repeats every item
            message = (
                f"found {len(first.instance)} items, at most {first.validator_value} are "
                "allowed; split the briefing"
            )
        raise DefinitionError(f"{path}: key '{key}': {message}.")
    return document


def check_one_line(text: str, where: str, error: type[InputError] = InputError) -> str:
    """Refuse a text holding a line break or another control character (it would end an
    e-mail header, or break a line the reader sees as one).

    >>> check_one_line("Infrastructure programmes compared", "x")
    'Infrastructure programmes compared'
    """
    bad = next((c for c in text if unicodedata.category(c) in _NOT_ONE_LINE), None)
    if bad is None:
        return text
    what = "a line break" if bad in "\r\n\u2028\u2029\x85" else "a control character"
    raise error(
        f"{where}: found '{show(text)}', which holds {what} (U+{ord(bad):04X}); expected one "
        "line of text without control characters (a TOML multi-line string keeps its line "
        "breaks: write it on one line)."
    )


def check_email_address(address: str, where: str, error: type[InputError] = InputError) -> str:
    """Refuse anything but one plain e-mail address (no display name, no list, no line
    break), checked by email-validator without looking anything up.

    >>> check_email_address("desk@example.org", "x")
    'desk@example.org'
    """
    check_one_line(address, where, error)
    from email_validator import EmailNotValidError, validate_email  # here: few commands need it

    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as problem:
        why = str(problem).rstrip(".")
        raise error(
            f"{where}: found '{show(address)}', which is not one e-mail address: "
            f"{why[:1].lower()}{why[1:]}. Expected one address per entry, such as "
            "desk@example.org, without a display name or angle brackets."
        ) from None
    return address


def _check_header_texts(path: Path, document: Mapping[str, Any]) -> None:
    """Titles and other one-line texts are one line; recipients and the owner are one
    e-mail address each (they become the Subject, To and From of e-mails)."""
    for prefix, item in _places(document):
        for field in ONE_LINE_FIELDS:
            if field in item:
                check_one_line(item[field], f"{path}: key '{prefix}{field}'", DefinitionError)
    schedule = document.get("schedule", {})
    addresses = [(f"schedule.recipients.{i}", a)
                 for i, a in enumerate(schedule.get("recipients", []))]  # fmt: skip
    if "owner" in schedule:
        addresses.append(("schedule.owner", schedule["owner"]))
    for name, item in document.get("params", {}).items():
        for value, listed in item.get("recipients", {}).items():
            key = f"params.{name}.recipients.{value}"
            addresses.extend((f"{key}.{i}", a) for i, a in enumerate(listed))
    for key, address in addresses:
        check_email_address(address, f"{path}: key '{key}'", DefinitionError)


def _places(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The document, each section and each chart, with the key prefix that names it."""
    yield "", document
    for i, section in enumerate(document.get("sections", [])):
        yield f"sections.{i}.", section
        for j, chart in enumerate(section.get("charts", [])):
            yield f"sections.{i}.charts.{j}.", chart


def _template(path: Path, document: Mapping[str, Any], templates: Path) -> str:
    """The page template named (default briefing.html), which must be a file in `templates`."""
    template: str = document.get("template", DEFAULT_TEMPLATE)
    if not TEMPLATE_NAME.match(template) or not (templates / template).is_file():
        known = sorted(p.name for p in templates.glob("*.html") if not p.name.startswith("base"))
        raise DefinitionError(
            f"{path}: key 'template': found '{template}', expected a page template in "
            f"{templates} ({', '.join(known) or 'none found'})."
        )
    return template


def _formats(path: Path, document: Mapping[str, Any]) -> tuple[str, ...]:
    """The formats to render, each once (default: every one)."""
    formats = tuple(document.get("formats", BRIEFING_FORMATS))
    for index, item in enumerate(formats):
        if item not in BRIEFING_FORMATS:
            raise DefinitionError(
                f"{path}: key 'formats.{index}': found '{item}', expected one of "
                f"{', '.join(BRIEFING_FORMATS)} (the CSV and manifest are always written)."
            )
    return tuple(dict.fromkeys(formats))


def _schedule(document: Mapping[str, Any]) -> BriefingSchedule | None:
    schedule = document.get("schedule")
    if schedule is None:
        return None
    return BriefingSchedule(
        schedule["cron"],
        schedule["timezone"],
        tuple(schedule.get("recipients", [])),
        schedule.get("owner"),
    )


def check_briefing_names(
    definition: BriefingDefinition,
    *,
    indicators: set[str],
    initiatives: set[str],
    geographies: set[str],
) -> None:
    """Raise DefinitionError (file, key, close match) for the first name the store lacks."""
    check_references(
        definition.path, definition.references, indicators, initiatives, geographies,
        after=" Nothing was rendered.",
    )  # fmt: skip


def check_references(
    path: Path,
    references: Iterable[NameReference],
    indicators: set[str],
    initiatives: set[str],
    geographies: set[str],
    after: str = "",
) -> None:
    """Raise DefinitionError (file, key, close match, then `after`) for the first name a
    definition file gives that the store does not hold."""
    known = {"indicator": indicators, "initiative": initiatives, "geography": geographies}
    where = {
        "indicator": "an indicator id from indicators/",
        "initiative": "an initiative id from data/reference/initiatives.csv",
        "geography": "a geography id from data/reference/geographies.csv",
    }
    for reference in references:
        names = known[reference.kind]
        if reference.name in names:
            continue
        hint = did_you_mean(reference.name, sorted(names))
        raise DefinitionError(
            f"{path}: key '{reference.key}': found '{reference.name}', expected "
            f"{where[reference.kind]}.{hint}{after}"
        )


# --- sections: one reader per kind ------------------------------------------------------


def _sections(
    path: Path, document: Mapping[str, Any], references: list[NameReference]
) -> tuple[SectionSpec, ...]:
    """The sections in reading order; a section showing every indicator gets them here, and
    a sources section is added at the end when the file has none."""
    initiatives = _names(document, "initiatives", "initiative", "", references)
    geographies = _names(document, "geographies", "geography", "", references)
    sections = [
        _section(path, index, item, initiatives, geographies, references)
        for index, item in enumerate(document["sections"])
    ]
    everything = tuple(dict.fromkeys(n for s in sections for n in s.indicators))
    sections = [replace(s, indicators=everything) if not s.indicators else s for s in sections]
    if "sources" not in {s.kind for s in sections}:
        sections.append(SectionSpec("sources", SOURCES_TITLE, everything, initiatives, geographies))
    return tuple(sections)


@dataclass(frozen=True)
class SectionItem:
    """One `[[sections]]` item being read: where it is, what it says, the names it shows."""

    path: Path
    key: str  # 'sections.<index>', for messages
    kind: str
    item: Mapping[str, Any]
    initiatives: tuple[str, ...]  # its own, else the briefing's
    geographies: tuple[str, ...]
    references: list[NameReference]  # the briefing's, added to in reading order

    def spec(
        self, title: str, indicators: tuple[str, ...], charts: tuple[SeriesChartSpec, ...] = ()
    ) -> SectionSpec:
        """The section, titled `title` unless the item gives its own."""
        return SectionSpec(
            kind=self.kind,
            title=self.item.get("title", title),
            indicators=indicators,
            initiatives=self.initiatives,
            geographies=self.geographies,
            intro=self.item.get("intro"),
            charts=charts,
        )

    def refuse(self, field: str, message: str) -> DefinitionError:
        return DefinitionError(f"{self.path}: key '{self.key}.{field}': {message}")


def _section(
    path: Path,
    index: int,
    item: Mapping[str, Any],
    default_initiatives: tuple[str, ...],
    default_geographies: tuple[str, ...],
    references: list[NameReference],
) -> SectionSpec:
    """One section, read by the reader of its kind (SECTION_READERS)."""
    key = f"sections.{index}"
    kind = item["kind"]
    if kind not in SECTION_READERS:
        hint = did_you_mean(kind, SECTION_READERS)
        raise DefinitionError(
            f"{path}: key '{key}.kind': found '{kind}', expected one of "
            f"{', '.join(SECTION_READERS)}.{hint}"
        )
    initiatives = _names(item, "initiatives", "initiative", key, references)
    geographies = _names(item, "geographies", "geography", key, references)
    initiatives = initiatives or default_initiatives
    geographies = geographies or default_geographies
    if not initiatives or not geographies:
        missing = "initiatives" if not initiatives else "geographies"
        raise DefinitionError(
            f"{path}: key '{key}.{missing}': none given here or at the top level; list the "
            f"{missing} this section shows."
        )
    place = SectionItem(path, key, kind, item, initiatives, geographies, references)
    for option in ("max_messages", "messages"):
        if option in item and kind != "key_messages":
            raise place.refuse(option, "only a key_messages section takes this key.")
    return SECTION_READERS[kind](place)


def _listed_indicators(section: SectionItem) -> tuple[str, ...]:
    """The indicators a section lists; it must list some."""
    indicators = _every_indicator_unless_listed(section)
    if not indicators:
        raise section.refuse(
            "indicators", f"a {section.kind} section needs the list of indicators it shows."
        )
    return indicators


def _every_indicator_unless_listed(section: SectionItem) -> tuple[str, ...]:
    """The indicators a section lists; none (empty) stands for every indicator of the
    briefing, filled in by `_sections`."""
    if "charts" in section.item:
        raise section.refuse("charts", "only a series section has charts.")
    return _names(section.item, "indicators", "indicator", section.key, section.references)


def _key_messages(section: SectionItem) -> SectionSpec:
    """Sentences written from the data (tracker.briefing.key_messages): of every indicator
    of the briefing unless listed; `max_messages` (1 to 6) and `messages` (the kinds wanted)."""
    item = section.item
    kinds = tuple(dict.fromkeys(item.get("messages", KEY_MESSAGE_KINDS)))
    for index, kind in enumerate(kinds):
        if kind not in KEY_MESSAGE_KINDS:
            hint = did_you_mean(kind, KEY_MESSAGE_KINDS)
            raise section.refuse(
                f"messages.{index}",
                f"found '{show(kind)}', expected one of {', '.join(KEY_MESSAGE_KINDS)}.{hint}",
            )
    spec = section.spec("Key messages", _every_indicator_unless_listed(section))
    return replace(
        spec, max_messages=item.get("max_messages", MAX_KEY_MESSAGES), message_kinds=kinds
    )


def _key_figures(section: SectionItem) -> SectionSpec:
    return section.spec("Key figures", _listed_indicators(section))


def _comparison(section: SectionItem) -> SectionSpec:
    return section.spec("Comparison", _listed_indicators(section))


def _targets(section: SectionItem) -> SectionSpec:
    return section.spec("Targets", _listed_indicators(section))


def _series(section: SectionItem) -> SectionSpec:
    """A series section lists charts, each of one indicator (its own names or the section's)."""
    item, key, references = section.item, section.key, section.references
    if "charts" not in item or "indicators" in item:
        raise section.refuse(
            "charts", "a series section lists its charts ([[sections.charts]] with "
            "indicator = ...), not 'indicators'.",
        )  # fmt: skip
    charts: list[SeriesChartSpec] = []
    for number, chart in enumerate(item["charts"]):
        chart_key = f"{key}.charts.{number}"
        mark = chart.get("mark", "bar")
        if mark not in CHART_MARKS:
            raise DefinitionError(
                f"{section.path}: key '{chart_key}.mark': found '{mark}', expected one of "
                f"{', '.join(CHART_MARKS)}."
            )
        references.append(NameReference("indicator", chart["indicator"], f"{chart_key}.indicator"))
        charts.append(
            SeriesChartSpec(
                indicator=chart["indicator"],
                title=chart.get("title", chart["indicator"]),
                initiatives=_names(chart, "initiatives", "initiative", chart_key, references)
                or section.initiatives,
                geographies=_names(chart, "geographies", "geography", chart_key, references)
                or section.geographies,
                mark=mark,
            )
        )
    indicators = tuple(dict.fromkeys(chart.indicator for chart in charts))
    return section.spec("Series", indicators, tuple(charts))


def _changes(section: SectionItem) -> SectionSpec:
    title = "What changed since the previous briefing"
    return section.spec(title, _every_indicator_unless_listed(section))


def _freshness(section: SectionItem) -> SectionSpec:
    return section.spec("Data freshness", _every_indicator_unless_listed(section))


SOURCES_TITLE = "Sources"


def _sources(section: SectionItem) -> SectionSpec:
    return section.spec(SOURCES_TITLE, _every_indicator_unless_listed(section))


# The one table of section kinds, in the order the error message lists them (models.SECTION_KINDS).
# A new kind adds its reader here, its template, and its builder in tracker/briefing/build.py.
SECTION_READERS: dict[str, Callable[[SectionItem], SectionSpec]] = {
    "key_messages": _key_messages,
    "key_figures": _key_figures,
    "comparison": _comparison,
    "targets": _targets,
    "series": _series,
    "changes": _changes,
    "freshness": _freshness,
    "sources": _sources,
}


def _names(
    item: Mapping[str, Any], field: str, kind: str, key: str, references: list[NameReference]
) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(item.get(field, [])))
    full_key = f"{key}.{field}" if key else field
    references.extend(
        NameReference(kind, value, full_key) for value in values if not _is_placeholder(value)
    )
    return values


def _window(path: Path, window: Mapping[str, str], end: str) -> date | None:
    text = window.get(end)
    if text is None:
        return None
    period = parse_period(text)
    if period is None:
        raise DefinitionError(
            f"{path}: key 'window.{end}': found '{text}', expected a period such as 2013, "
            "2024-H1, 2024-Q3, 2024-07 or 2024-07-15."
        )
    return period.start if end == "start" else period.end


# --- briefing parameters ([params.<name>], see tracker.briefing.variants) ---------------------
# A value names a folder and files (reports/out/<report>/<date>/<name>-<value>/), so it must
# be a plain id. Texts say {geography} (its name), {geography.id} or {geography.regions};
# name lists say "{geography}" or "{geography.regions}" (the regions it belongs to).
PARAM_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
TEXT_FORMS = {"geography": ("", ".id", ".regions"), "initiative": ("", ".id")}
LIST_FORMS = {"geographies": ("{geography}", "{geography.regions}"),
              "initiatives": ("{initiative}",)}  # fmt: skip


def check_param_value(value: str, where: str, error: type[InputError] = InputError) -> str:
    """Refuse a parameter value that is not a plain id (a path, '..', NUL, a space).

    >>> check_param_value("central-asia", "x")
    'central-asia'
    """
    if PARAM_VALUE.match(value):
        return value
    shown = value.replace("\0", "\\0")
    path_like = any(part in value for part in ("/", "\\", "..", "\0"))
    why = "it holds a path or a NUL character" if path_like else "it is not a plain id"
    raise error(
        f"{where}: value '{shown}' refused: {why}. A value is an id such as KAZ, "
        "central-asia or BRI (letters, digits, '-' and '_'). Nothing was rendered."
    )


def _params(path: Path, document: Mapping[str, Any]) -> tuple[BriefingParam, ...]:
    params = []
    for name, item in document.get("params", {}).items():
        key = f"params.{name}"
        queries = PARAM_VALUE_QUERIES[name]
        if ("values" in item) == ("values_query" in item):
            raise DefinitionError(
                f"{path}: key '{key}': give either 'values' (a list of ids) or "
                f"'values_query' (one of: {'; '.join(queries)}), not both or neither."
            )
        values = tuple(dict.fromkeys(
            check_param_value(v, f"{path}: key '{key}.values.{i}'", DefinitionError)
            for i, v in enumerate(item.get("values", []))
        ))  # fmt: skip
        default = check_param_value(item["default"], f"{path}: key '{key}.default'",
                                    DefinitionError)  # fmt: skip
        if values and default not in values:
            raise DefinitionError(
                f"{path}: key '{key}.default': found '{default}', expected one of the "
                f"values listed ({', '.join(values)})."
            )
        query = item.get("values_query")
        if query is not None and query not in queries:
            hint = did_you_mean(query, queries)
            raise DefinitionError(
                f"{path}: key '{key}.values_query': found '{query}', expected one of: "
                f"{'; '.join(queries)}.{hint} (Free SQL is not run from a definition file.)"
            )
        on_schedule = item.get("on_schedule", "default")
        if on_schedule not in PARAM_SCHEDULES:
            raise DefinitionError(
                f"{path}: key '{key}.on_schedule': found '{on_schedule}', expected "
                f"{' or '.join(PARAM_SCHEDULES)}."
            )
        recipients = []
        for value, addresses in item.get("recipients", {}).items():
            check_param_value(value, f"{path}: key '{key}.recipients'", DefinitionError)
            if values and value not in values:
                raise DefinitionError(
                    f"{path}: key '{key}.recipients.{value}': '{value}' is not one of the "
                    f"values listed ({', '.join(values)})."
                )
            recipients.append((value, tuple(addresses)))
        params.append(
            BriefingParam(name, default, values, query, on_schedule, tuple(recipients),
                        item.get("description", ""))
        )  # fmt: skip
    return tuple(params)


def _is_placeholder(value: str) -> bool:
    return value.startswith("{") and value.endswith("}")


def _check_placeholders(
    path: Path, document: Mapping[str, Any], params: tuple[BriefingParam, ...]
) -> None:
    """Every {placeholder} in a text or name list must name a declared parameter."""
    declared = {param.name for param in params}
    known = ", ".join(f"{{{n}{f}}}" for n in sorted(declared) for f in TEXT_FORMS[n])
    expected = f"one of {known}" if known else "no placeholder (no [params] are declared)"
    for prefix, item in _places(document):
        for field in ("title", "audience", "intro"):
            for found in _PLACEHOLDER.findall(str(item.get(field, ""))):
                name, dot, form = found.partition(".")
                if name not in declared or dot + form not in TEXT_FORMS[name]:
                    raise DefinitionError(
                        f"{path}: key '{prefix}{field}': found '{{{found}}}', expected {expected}."
                    )
        for field, forms in LIST_FORMS.items():
            for index, value in enumerate(item.get(field, [])):
                if "{" not in value and "}" not in value:
                    continue
                name = value.strip("{}").partition(".")[0]
                if value not in forms or name not in declared:
                    allowed = [f for f in forms if f.strip("{}").partition(".")[0] in declared]
                    raise DefinitionError(
                        f"{path}: key '{prefix}{field}.{index}': found '{value}', expected "
                        f"{', '.join(allowed) or 'an id (no [params] declare this placeholder)'}."
                    )
