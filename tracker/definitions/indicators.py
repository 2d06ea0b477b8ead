"""Indicator definition files (`indicators/<id>.toml`) -> validated `Indicator` models.

Each file is checked against `tracker/definitions/schemas/indicator.schema.json`; errors name
the file and the key.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tracker.errors import DefinitionError
from tracker.models import Derived, Indicator, Target
from tracker.units import fits, parse_unit

DEFINITION_SUFFIXES = (".toml",)


@cache
def indicator_schema_bytes() -> bytes:
    """The JSON Schema every indicator definition file must satisfy, as shipped."""
    schemas = resources.files("tracker.definitions").joinpath("schemas")
    return schemas.joinpath("indicator.schema.json").read_bytes()


@cache
def indicator_schema() -> dict[str, Any]:
    """The JSON Schema every indicator definition file must satisfy."""
    schema: dict[str, Any] = json.loads(indicator_schema_bytes())
    return schema


def definition_files(folder: Path) -> list[Path]:
    """The indicator definition files in `folder`, sorted by name."""
    if not folder.is_dir():
        raise DefinitionError(f"{folder}: indicator folder not found; set TRACKER_HOME.")
    return sorted(p for p in folder.iterdir() if p.suffix in DEFINITION_SUFFIXES)


def load_indicators(folder: Path) -> list[Indicator]:
    """Read and validate every indicator definition in `folder`."""
    indicators = [load_indicator(path) for path in definition_files(folder)]
    seen: dict[str, Path] = {}
    for indicator in indicators:
        assert indicator.path is not None
        if indicator.id in seen:
            raise DefinitionError(
                f"{indicator.path}: key 'id': '{indicator.id}' is also defined in "
                f"{seen[indicator.id]}; each indicator id must be unique."
            )
        seen[indicator.id] = indicator.path
    return indicators


def load_indicator(path: Path) -> Indicator:
    """Read one definition file; DefinitionError names the file and key on any problem."""
    raw = path.read_bytes()
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DefinitionError(f"{path}: not valid TOML: {error}") from None
    document = dates_to_text(document)
    import jsonschema  # here, not at the top: commands that read no definition skip it

    validator = jsonschema.Draft202012Validator(
        indicator_schema(), format_checker=jsonschema.FormatChecker()
    )
    problems = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if problems:
        first = problems[0]
        key = ".".join(str(part) for part in first.absolute_path) or "(top level)"
        raise DefinitionError(f"{path}: key '{key}': {first.message}.")
    if document["id"] != path.stem:
        raise DefinitionError(
            f"{path}: key 'id': found '{document['id']}', expected '{path.stem}' "
            "(the id must equal the file name)."
        )
    unit = parse_unit(document["unit"])
    if unit is None:
        raise DefinitionError(
            f"{path}: key 'unit': found '{document['unit']}', expected a unit such as "
            "'USD bn', 'EUR m', 'GW', 'count', 'km', 'Mt', '%', 'pp', 'TEU' or 'deals' "
            '(README, "Indicator definitions").'
        )
    if "count_noun" in document and unit.dimension != "count":
        raise DefinitionError(
            f"{path}: key 'count_noun': found '{document['count_noun']}' for the unit "
            f"'{document['unit']}', expected it only with the unit 'count' (remove the key)."
        )
    if document.get("context") and ("default_initiative" in document or "targets" in document):
        key = "default_initiative" if "default_initiative" in document else "targets"
        raise DefinitionError(
            f"{path}: key '{key}': a context indicator (context = true) belongs to no "
            "programme, so it takes no default initiative and no targets (remove the key)."
        )
    targets = tuple(
        _target(path, document["id"], index, item)
        for index, item in enumerate(document.get("targets", []))
    )
    derived = _derived(path, document) if "derived" in document else None
    return Indicator(
        id=document["id"],
        name=document["name"],
        description=document["description"],
        unit=unit.label,
        measure=document["measure"],
        frequency=document["frequency"],
        category=document["category"],
        preferred_source=document.get("preferred_source"),
        base_date=_date(document.get("base_date")),
        base_note=document.get("base_note"),
        default_initiative=document.get("default_initiative"),
        context=bool(document.get("context", False)),
        count_noun=document.get("count_noun"),
        fiscal_year_start_month=document.get("fiscal_year", {}).get("start_month"),
        fiscal_year_named_by=document.get("fiscal_year", {}).get("named_by"),
        keywords=tuple(document.get("keywords", ())),
        targets=targets,
        derived=derived,
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def definitions_digest(indicators: list[Indicator]) -> str:
    """One hash over all definition files and the schema they were checked against: it
    changes when any file (or the schema) changes."""
    return _digest([(indicator.id, indicator.sha256) for indicator in indicators])


def definition_files_digest(folder: Path) -> str:
    """`definitions_digest` of the files in `folder` as their bytes are now, without parsing
    or checking them: equal to the digest stored by the last sync exactly when no file was
    added, removed or changed since (a valid file's id is its file name)."""
    return _digest(
        [
            (path.stem, hashlib.sha256(path.read_bytes()).hexdigest())
            for path in definition_files(folder)
        ]
    )


def _digest(files: list[tuple[str, str]]) -> str:
    schema = hashlib.sha256(indicator_schema_bytes()).hexdigest()
    lines = [f"{name}:{sha256}" for name, sha256 in sorted(files)]
    return hashlib.sha256("\n".join([f"schema:{schema}", *lines]).encode()).hexdigest()


def _target(path: Path, indicator: str, index: int, item: Mapping[str, Any]) -> Target:
    unit = parse_unit(item["unit"])
    if unit is None:
        raise DefinitionError(
            f"{path}: key 'targets.{index}.unit': found '{item['unit']}', expected a unit "
            "such as 'USD bn', 'EUR bn', 'GW', 'km' or 'Mt'."
        )
    return Target(
        indicator=indicator,
        initiative=item["initiative"],
        geography=item.get("geography", "WLD"),
        label=item["label"],
        value=float(item["value"]),
        unit=unit.label,
        due=date.fromisoformat(item["due"]),
        source=item["source"],
        baseline_value=item.get("baseline_value"),
        baseline_period=item.get("baseline_period"),
        note=item.get("note"),
        contributor=item.get("contributor"),
    )


def _derived(path: Path, document: Mapping[str, Any]) -> Derived:
    """The [derived] table; DefinitionError names the file and key of what does not fit."""
    item = document["derived"]
    aggregate, column = item["aggregate"], item.get("column")
    if (aggregate == "sum") != (column is not None):
        raise DefinitionError(
            f"{path}: key 'derived.column': "
            + ("missing: aggregate = \"sum\" names the column it sums "
               "(amount_constant_usd_2021 or amount_nominal_usd)."
               if column is None else
               "a count counts records and sums no column (remove the key).")
        )  # fmt: skip
    unit, wanted = parse_unit(item["unit"]), parse_unit(document["unit"])
    if unit is None or wanted is None or not fits(unit, wanted):
        raise DefinitionError(
            f"{path}: key 'derived.unit': found '{item['unit']}', expected a unit that "
            f"converts to the indicator's unit '{document['unit']}' ('count' for a count, "
            "'USD' for a sum of amounts)."
        )
    initiative = item.get("initiative", document.get("default_initiative"))
    if initiative is None or document.get("context"):
        raise DefinitionError(
            f"{path}: key 'derived.initiative': missing; derived figures belong to an "
            "initiative (CHN_ODF for AidData's records): name it here or as default_initiative."
        )
    filters = tuple(
        (name, tuple(value) if isinstance(value, list) else (value,))
        for name, value in sorted(item["filters"].items())
    )
    return Derived(
        table=item["from"],
        aggregate=aggregate,
        column=column,
        unit=item["unit"],
        filters=filters,
        geography=item["geography"],
        period=item["period"],
        initiative=initiative,
        label=item["label"],
    )


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def dates_to_text(value: Any) -> Any:
    """TOML parses bare dates; the schema expects ISO text, so turn them back."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: dates_to_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [dates_to_text(v) for v in value]
    return value
