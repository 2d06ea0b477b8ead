"""Alert definition files (`reports/alerts/<name>.toml`) -> validated `AlertDefinition` models.

Each file is checked against `tracker/definitions/schemas/alert.schema.json`; errors name the
file and the key. The title is one line (it starts the e-mail's Subject) and recipients are
one e-mail address each, checked as a briefing's are. Names of indicators, initiatives,
geographies and the briefing are collected here and checked by `check_alert_names`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tracker.definitions.briefings import (
    check_briefing_name,
    check_email_address,
    check_one_line,
    check_references,
)
from tracker.definitions.indicators import dates_to_text
from tracker.errors import DefinitionError, InputError
from tracker.models import AlertDefinition, NameReference
from tracker.text import did_you_mean

TITLES = {
    "target_reached": "Target reached",
    "revision": "Figure revised",
    "stale": "Data past its freshness rule",
    "new_figure": "New figure",
}


@cache
def alert_schema() -> dict[str, Any]:
    """The JSON Schema every alert definition file must satisfy."""
    text = resources.files("tracker.definitions").joinpath("schemas/alert.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def alert_files(folder: Path) -> list[Path]:
    """The alert definition files in `folder` (reports/alerts/), sorted; [] when it is absent."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".toml" and p.is_file())


def load_alerts(folder: Path) -> list[AlertDefinition]:
    """Read and validate every alert definition in `folder`."""
    return [load_alert(path) for path in alert_files(folder)]


def load_alert(path: Path) -> AlertDefinition:
    """Read one alert definition; DefinitionError names the file and key on any problem."""
    try:
        check_briefing_name(path.stem)
    except InputError:
        raise DefinitionError(
            f"{path}: the file name is not a plain name; name alert files with a-z, 0-9, "
            "'-' and '_' (e.g. gg-target.toml)."
        ) from None
    try:
        document: dict[str, Any] = dates_to_text(tomllib.loads(path.read_bytes().decode()))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DefinitionError(f"{path}: not valid TOML: {error}") from None
    import jsonschema  # here, not at the top: commands that read no definition skip it

    if "threshold_percent" in document and document.get("kind") != "revision":
        raise DefinitionError(
            f"{path}: key 'threshold_percent': only a revision alert takes it (kind is "
            f"'{document.get('kind')}')."
        )
    validator = jsonschema.Draft202012Validator(alert_schema())
    problems = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if problems:
        first = problems[0]
        key = ".".join(str(part) for part in first.absolute_path) or "(top level)"
        message = first.message
        if first.validator == "required" and document.get("kind") == "revision":
            message += " (a revision alert says how large a change, in %, it announces)"
        raise DefinitionError(f"{path}: key '{key}': {message}.")
    kind = str(document["kind"])
    title = str(document.get("title") or TITLES[kind])
    check_one_line(title, f"{path}: key 'title'", DefinitionError)
    recipients = tuple(str(a) for a in document["recipients"])
    for i, address in enumerate(recipients):
        check_email_address(address, f"{path}: key 'recipients.{i}'", DefinitionError)
    briefing = document.get("briefing")
    if briefing is not None:
        try:
            check_briefing_name(briefing)
        except InputError as error:
            raise DefinitionError(f"{path}: key 'briefing': {error}") from None
    references = [
        NameReference(kind, name, f"{key}.{i}")
        for key, kind in (
            ("indicators", "indicator"),
            ("initiatives", "initiative"),
            ("geographies", "geography"),
        )
        for i, name in enumerate(document.get(key, []))
    ]
    threshold = document.get("threshold_percent")
    return AlertDefinition(
        name=path.stem,
        kind=kind,
        title=title,
        indicators=tuple(document.get("indicators", [])),
        initiatives=tuple(document.get("initiatives", [])),
        geographies=tuple(document.get("geographies", [])),
        threshold_percent=None if threshold is None else float(threshold),
        briefing=briefing,
        recipients=tuple(dict.fromkeys(recipients)),
        path=path,
        references=tuple(references),
    )


def check_alert_names(
    definition: AlertDefinition,
    *,
    indicators: set[str],
    initiatives: set[str],
    geographies: set[str],
    briefings: Iterable[str],
) -> None:
    """Raise DefinitionError (file, key, close match) for the first name that is unknown."""
    check_references(definition.path, definition.references, indicators, initiatives, geographies)
    listed = sorted(briefings)
    if definition.briefing is not None and definition.briefing not in listed:
        hint = did_you_mean(definition.briefing, listed)
        raise DefinitionError(
            f"{definition.path}: key 'briefing': found '{definition.briefing}', expected the "
            f"name of a briefing in reports/ ({', '.join(listed) or 'none'}).{hint}"
        )
