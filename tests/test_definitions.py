"""Indicator definition files: every shipped one fits the schema; bad ones are named."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import PROJECT
from tracker.definitions.indicators import indicator_schema, load_indicator, load_indicators
from tracker.errors import DefinitionError

SHIPPED = sorted((PROJECT / "indicators").glob("*.toml"))


def _as_json(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    return value


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_definition_matches_the_schema(path: Path) -> None:
    document = _as_json(tomllib.loads(path.read_text()))
    jsonschema.Draft202012Validator(
        indicator_schema(), format_checker=jsonschema.FormatChecker()
    ).validate(document)
    assert isinstance(document, dict) and document["id"] == path.stem


def test_the_schema_itself_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(indicator_schema())


def test_all_shipped_definitions_load() -> None:
    ids = [i.id for i in load_indicators(PROJECT / "indicators")]
    assert ids == [p.stem for p in SHIPPED]


GOOD = (
    'id = "{id}"\nname = "A"\ndescription = "B"\nunit = "USD bn"\n'
    'measure = "flow"\nfrequency = "annual"\ncategory = "finance"\n'
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace('"flow"', '"flows"'), "key 'measure': 'flows' is not one of"),
        (GOOD.replace('unit = "USD bn"', 'unit = "widgets"'), "key 'unit': found 'widgets'"),
        (GOOD.replace('name = "A"\n', ""), "'name' is a required property"),
        (GOOD + 'colour = "red"\n', "Additional properties are not allowed ('colour'"),
        (
            GOOD + "[[targets]]\ninitiative = 'BRI'\nlabel = 'x'\nvalue = 1\nunit = 'USD bn'\n"
            "due = 'soon'\nsource = 's'\n",
            "key 'targets.0.due': 'soon' is not a 'date'",
        ),
        ("id = [", "not valid TOML"),
        (GOOD + 'count_noun = "deals"\n', "key 'count_noun': found 'deals' for the unit 'USD bn'"),
        (
            GOOD.replace('"USD bn"', '"count"') + 'count_noun = "Deals!"\n',
            "key 'count_noun': 'Deals!' does not match",
        ),
    ],
)
def test_a_bad_definition_names_the_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "sample.toml"
    path.write_text(text.replace("{id}", "sample"))
    with pytest.raises(DefinitionError) as caught:
        load_indicator(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_a_count_noun_is_read_with_a_count(tmp_path: Path) -> None:
    path = tmp_path / "sample.toml"
    path.write_text(GOOD.replace('"USD bn"', '"count"').replace("{id}", "sample")
                    + 'count_noun = "deals"\n')  # fmt: skip
    assert load_indicator(path).count_noun == "deals"
    path.write_text(GOOD.replace('"USD bn"', '"count"').replace("{id}", "sample"))
    assert load_indicator(path).count_noun is None


def test_the_id_must_equal_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text(GOOD.replace("{id}", "sample"))
    with pytest.raises(DefinitionError, match="expected 'other'"):
        load_indicator(path)
