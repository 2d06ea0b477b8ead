"""Import mapping files (`indicators/mappings/*.toml`) -> a `Mapping`, checked against
`tracker/definitions/schemas/mapping.schema.json` and then against the store's catalog;
every problem names the file and the key (`series.2.indicator`).

A mapping names its `format`, the `[source]` every imported figure cites, and `[[series]]`
entries: a publisher's series `code` -> tracker's `indicator`, `initiative` (left out for a
context indicator), `geography` (default: the file's country code), `unit` and `scale` of
the publisher's values, and the rows' `note`. An SDMX entry may name its series by dimension
values instead of a code (`match = {FREQ = "A", COUNTERPART_AREA = ["KZ", "UZ"]}`, a list
being any of its values), and may send them to the `fx_rates` table (`target = "fx_rates"`,
the ECB's EXR series) instead of an indicator; `unmapped = "skip"` lets an SDMX import skip
the series no entry matches. An SDMX entry may also declare a sum of the series that differ
only in one dimension (`sum_over = "INDICATOR"` over the list `match` gives it: a reporter's
exports + imports, the definition of total trade) and take each row's geography from another
dimension than REF_AREA (`geography_from = "COUNTERPART_AREA"`).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tracker import settings
from tracker.definitions.indicators import dates_to_text
from tracker.errors import DefinitionError
from tracker.models import CONTEXT_INITIATIVE, Catalog, SourceRecord
from tracker.store import Connection, record_checked_mappings
from tracker.text import did_you_mean, show
from tracker.units import SCALE_NAMES, fits, parse_unit


@dataclass(frozen=True)
class Series:
    """One `[[series]]` entry: where the values of a publisher's series go."""

    code: str  # the code, or for a `match` entry its text: 'COUNTERPART_AREA=KZ, FREQ=A'
    indicator: str | None  # None: a series for the fx_rates table
    initiative: str | None  # None: a context indicator, or the indicator's default
    geography: str | None  # None: the geography the file gives each value
    unit: str  # with the scale: 'USD', 'million people'
    note: str
    source: str  # the id of the mapping's [source]
    key: str  # where it is declared, for messages: 'mapping.toml: series.2'
    match: tuple[tuple[str, tuple[str, ...]], ...] = ()  # sdmx: (dimension, values), sorted
    target: str = "observations"  # or 'fx_rates'
    scale: int = 0  # the values are in 10^scale units of `unit`
    sum_over: str | None = None  # sdmx: rows are sums over this dimension's `match` values
    geography_from: str | None = None  # sdmx: the dimension giving the geography (REF_AREA)

    def summed(self) -> tuple[str, ...]:
        """The values of `sum_over` whose series are added, in the mapping's order."""
        return dict(self.match).get(self.sum_over or "", ())


@dataclass(frozen=True)
class Mapping:
    """The mapping files of one import, merged: each publisher code maps to one series."""

    format: str
    files: tuple[Path, ...]
    sources: tuple[SourceRecord, ...]
    series: dict[str, Series]
    skip_unmapped: bool = False  # sdmx: some mapping file says `unmapped = "skip"`
    # the files' bytes and the schema, hashed (`mapping_files_digest`): files with this
    # digest were checked against the schema, so the next import need not check them again
    digest: str = ""


@cache
def mapping_schema() -> dict[str, Any]:
    """The JSON Schema every mapping file must satisfy."""
    text = resources.files("tracker.definitions").joinpath("schemas/mapping.schema.json")
    schema: dict[str, Any] = json.loads(text.read_text())
    return schema


def mappings_dir() -> Path:
    """The folder of shipped mapping files (`indicators/mappings/`)."""
    return settings.indicators_dir() / "mappings"


def mapping_files_digest(files: list[tuple[Path, bytes]]) -> str:
    """One hash of the mapping files' bytes and of the schema: it changes when any file of
    the import (or the schema) does."""
    schema = json.dumps(mapping_schema(), sort_keys=True).encode()
    lines = sorted(f"{path.name}:{hashlib.sha256(raw).hexdigest()}" for path, raw in files)
    text = "\n".join([f"schema:{hashlib.sha256(schema).hexdigest()}", *lines])
    return hashlib.sha256(text.encode()).hexdigest()


def load_mapping(
    format_name: str, paths: list[Path] | None = None, *, checked: str | None = None
) -> Mapping:
    """The mapping files `paths` (by default every file in indicators/mappings/ made for
    `format_name`), checked against the schema; DefinitionError names file and key.

    Files whose digest is `checked` (the `Mapping.digest` of an earlier import: the same
    bytes, the same schema) are not checked against the schema again (jsonschema costs a
    command 50 ms); every other check is made each time.
    """
    folder = mappings_dir()
    shipped = paths is None
    if paths is None:
        paths = sorted(folder.glob("*.toml")) if folder.is_dir() else []
    files = [(path, _bytes(path)) for path in paths]
    digest = mapping_files_digest(files)
    documents = [(path, _read(path, raw, validate=digest != checked)) for path, raw in files]
    if shipped:
        documents = [(p, d) for p, d in documents if d["format"] == format_name]
        if not documents:
            raise DefinitionError(
                f"{folder}: no mapping file for format '{format_name}'; write one (README, "
                '"Importing publishers\' files") and give it with --map FILE.'
            )
    sources: dict[str, SourceRecord] = {}
    series: dict[str, Series] = {}
    skip_unmapped = False
    for path, document in documents:
        if document["format"] != format_name:
            raise DefinitionError(
                f"{path}: key 'format': found '{document['format']}', expected "
                f"'{format_name}' (this is a mapping for `tracker import {document['format']}`)."
            )
        source = _source(document["source"])
        if source.id in sources and sources[source.id] != source:
            raise DefinitionError(
                f"{path}: key 'source.id': '{source.id}' is declared differently in another "
                "mapping file of this import; give each source one declaration."
            )
        sources[source.id] = source
        skip_unmapped = skip_unmapped or document.get("unmapped") == "skip"
        if format_name != "sdmx" and "unmapped" in document:
            raise DefinitionError(
                f"{path}: key 'unmapped': only an sdmx mapping takes it; {format_name} files "
                "always count and skip the codes no mapping names."
            )
        for index, item in enumerate(document.get("series", [])):
            for sdmx_key in ("match", "target", "sum_over", "geography_from"):
                if format_name != "sdmx" and sdmx_key in item:
                    raise DefinitionError(
                        f"{path}: key 'series.{index}.{sdmx_key}': only an sdmx mapping takes "
                        "it; name the series by its `code`."
                    )
            entry = _series(path, index, item, source.id)
            if entry.code in series:
                what = "code" if not entry.match else "match"
                raise DefinitionError(
                    f"{path}: key 'series.{index}.{what}': '{show(entry.code)}' is also mapped "
                    f"at {series[entry.code].key}; map each publisher code once."
                )
            series[entry.code] = entry
    return Mapping(
        format=format_name,
        files=tuple(path for path, _ in documents),
        sources=tuple(sources.values()),
        series=series,
        skip_unmapped=skip_unmapped,
        digest=digest,
    )


def check_shipped_mappings(conn: Connection, formats: tuple[str, ...]) -> None:
    """Check the shipped mapping files of each of `formats` against the schema, as `tracker
    init` checks every definition file, and keep their digest, so that an import of them
    need not check them again. Files that fail are left for the import to refuse."""
    for format_name in formats:
        try:
            mapping = load_mapping(format_name)
        except DefinitionError:
            continue
        record_checked_mappings(conn, format_name, mapping.digest)


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise DefinitionError(f"{path}: cannot read the mapping file ({error.strerror}).") from None


def _read(path: Path, raw: bytes, *, validate: bool) -> dict[str, Any]:
    try:
        document: dict[str, Any] = dates_to_text(tomllib.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DefinitionError(f"{path}: not a valid TOML mapping file: {error}.") from None
    if not validate:
        return document
    import jsonschema  # here, not at the top: commands that read no mapping skip it

    validator = jsonschema.Draft202012Validator(
        mapping_schema(), format_checker=jsonschema.FormatChecker()
    )
    problems = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if problems:
        first = problems[0]
        key = ".".join(str(part) for part in first.absolute_path) or "(top level)"
        raise DefinitionError(
            f"{path}: key '{key}': {first.message}; see README \"Importing publishers' files\" "
            "for the mapping file format."
        )
    return document


def _source(item: dict[str, Any]) -> SourceRecord:
    published = item.get("published")
    return SourceRecord(
        id=item["id"],
        title=item["title"],
        publisher=item["publisher"],
        url=item.get("url"),
        published=date.fromisoformat(published) if published else None,
        kind=item.get("kind", "primary"),
        note=item.get("note"),
    )


def _series(path: Path, index: int, item: dict[str, Any], source: str) -> Series:
    key = f"{path}: series.{index}"
    match = tuple(sorted(
        (str(k), tuple(str(x) for x in v) if isinstance(v, list) else (str(v),))
        for k, v in item.get("match", {}).items()
    ))  # fmt: skip
    code = item["code"] if "code" in item else ", ".join(f"{k}={'|'.join(v)}" for k, v in match)
    if item.get("target") == "fx_rates":
        return Series(code, None, None, None, "", item.get("note", code), source, key, match,
                      "fx_rates")  # fmt: skip
    sum_over = item.get("sum_over")
    if sum_over is not None:
        listed = item["match"].get(sum_over)
        if not isinstance(listed, list) or len(listed) < 2:
            found = "absent from `match`" if listed is None else f"match.{sum_over} = {listed!r}"
            raise DefinitionError(
                f"{path}: key 'series.{index}.sum_over': '{sum_over}' is {found}; expected "
                f"a list of at least two values of {sum_over} in `match`, the series added "
                '(match = {INDICATOR = ["TXG_FOB_USD", "TMG_CIF_USD"]} with sum_over = '
                '"INDICATOR").'
            )
        if item.get("geography_from") == sum_over:
            raise DefinitionError(
                f"{path}: key 'series.{index}.geography_from': '{sum_over}' is the dimension "
                "summed over, so it gives no one geography; expected another dimension "
                "(COUNTERPART_AREA, REF_AREA)."
            )
    scale = int(item.get("scale", 0))
    unit = item["unit"] if scale == 0 else f"{SCALE_NAMES[10.0**scale]} {item['unit']}"
    if parse_unit(unit) is None:
        raise DefinitionError(
            f"{path}: key 'series.{index}.unit': found '{show(item['unit'])}', expected a unit "
            "tracker reads, such as 'USD', 'EUR', 'people', 'count', 'km' (README, \"CSV "
            'format").'
        )
    return Series(
        code=code,
        indicator=item["indicator"],
        initiative=item.get("initiative"),
        geography=item.get("geography"),
        unit=unit,
        note=item.get("note", code),
        source=source,
        key=key,
        match=match,
        scale=scale,
        sum_over=sum_over,
        geography_from=item.get("geography_from"),
    )


def check_mapping(mapping: Mapping, catalog: Catalog) -> None:
    """Refuse a series whose indicator, initiative, geography or unit the store does not
    know or cannot take: DefinitionError naming the file and key."""
    for entry in mapping.series.values():
        path, where = entry.key.split(": ", 1)
        if entry.indicator is None:
            continue  # fx_rates: nothing of the catalog to check
        info = catalog.indicators.get(entry.indicator)
        if info is None:
            raise DefinitionError(
                f"{path}: key '{where}.indicator': found '{show(entry.indicator)}', unknown "
                f"indicator.{did_you_mean(entry.indicator, catalog.indicators)} Indicators are "
                "the files in indicators/."
            )
        if info.context and entry.initiative is not None:
            raise DefinitionError(
                f"{path}: key '{where}.initiative': '{entry.indicator}' is a context "
                "indicator, which belongs to no programme; remove the key."
            )
        if entry.initiative is not None and (
            entry.initiative not in catalog.initiatives or entry.initiative == CONTEXT_INITIATIVE
        ):
            known = sorted(catalog.initiatives - {CONTEXT_INITIATIVE})
            raise DefinitionError(
                f"{path}: key '{where}.initiative': found '{show(entry.initiative)}', unknown "
                f"initiative; expected one of {', '.join(known)}."
            )
        if not info.context and entry.initiative is None and info.default_initiative is None:
            raise DefinitionError(
                f"{path}: key '{where}.initiative': missing; '{entry.indicator}' has no "
                "default_initiative, so each of its series names its initiative."
            )
        if entry.geography is not None and entry.geography.lower() not in catalog.geographies:
            raise DefinitionError(
                f"{path}: key '{where}.geography': found '{show(entry.geography)}', unknown "
                "geography; expected an id of `geographies` (KAZ, WLD, central-asia, HIC)."
            )
        given, wanted = parse_unit(entry.unit), parse_unit(info.unit)
        if given is not None and wanted is not None and not fits(given, wanted):
            raise DefinitionError(
                f"{path}: key '{where}.unit': found '{show(entry.unit)}', which cannot be "
                f"converted to the unit of '{entry.indicator}', '{info.unit}'."
            )
