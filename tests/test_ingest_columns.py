"""The private `_`-columns of tracker/ingest/ are declared once (ingest/columns.py), and real
files' frames hold exactly the declared columns and dtypes at each hand-over between steps."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import polars as pl
import pytest

from tracker import ingest, store
from tracker.errors import IngestError
from tracker.ingest import columns
from tracker.ingest.columns import BODY, CHECKED, RESOLVED, check_columns
from tracker.ingest.csv_text import Dialect, parse
from tracker.ingest.prepare import CODED_COLUMNS, LONG_COLUMNS, _check_rows, _layout
from tracker.ingest.state import IngestOptions, IngestState
from tracker.ingest.values import report_cell_problems, resolve, values_frame
from tracker.models import Catalog

INGEST = Path(columns.__file__).parent
SHIPPED = sorted((Path(__file__).resolve().parents[1] / "data" / "observations").glob("*.csv"))
PRIVATE = re.compile(r"^_[a-z][a-z0-9_]*$")
DECLARED = {column.name for column in columns.COLUMNS}


def _strings(path: Path) -> set[str]:
    """Every string constant of a module, f-string pieces included."""
    tree = ast.parse(path.read_text())
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_every_private_column_the_ingest_code_names_is_declared() -> None:
    used = {text for path in INGEST.glob("*.py") for text in _strings(path) if PRIVATE.match(text)}
    assert used - DECLARED == set()
    built = {  # a name built in an f-string ('_first{c}', '{alias}_blank') cannot be checked
        text
        for path in INGEST.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.JoinedStr)
        for part in node.values
        if isinstance(part, ast.Constant) and str(part.value).startswith("_")
        for text in [str(part.value)]
    }
    assert built == set()


def test_every_declared_column_is_used_by_name_with_one_sentence_and_one_dtype() -> None:
    assert len(DECLARED) == len(columns.COLUMNS) == 47
    constants = {v: k for k, v in vars(columns).items() if isinstance(v, str) and k.isupper()}
    names_used = {
        node.id
        for path in INGEST.glob("*.py")
        if path.name != "columns.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Name)
    }
    for column in columns.COLUMNS:
        assert PRIVATE.match(column.name), column
        assert constants[column.name] == column.name.removeprefix("_").upper()
        assert constants[column.name] in names_used, f"{column.name} is declared but unused"
        assert column.meaning.endswith(".") and column.meaning[0].isupper(), column
    for step in (BODY, RESOLVED, CHECKED):
        assert set(step.columns) <= DECLARED
        assert all(columns.DTYPES[name] is not None for name in step.columns)


@pytest.fixture(scope="module")
def catalog(shipped_db_template: Path) -> Catalog:
    with store.connect(shipped_db_template, read_only=True) as conn:
        return store.catalog(conn)


def _hand_overs(path: Path, catalog: Catalog) -> tuple[IngestState, list[pl.DataFrame]]:
    """One file through the steps of `ingest.prepare`, each frame checked as it is handed on."""
    state = IngestState(catalog, IngestOptions(), [str(path)])
    dialect = Dialect(state.encoding, state.delimiter, CODED_COLUMNS, ",".join(LONG_COLUMNS))
    table = parse(path.read_bytes(), 0, dialect, lambda line, message: None)
    assert table is not None
    state.tables[0] = table
    body = check_columns(table.body, BODY)
    layout = _layout(table, state)
    assert layout is not None
    resolved = check_columns(resolve(values_frame(table, layout, state), layout, state), RESOLVED)
    report_cell_problems(resolved, table, layout, state)
    checked = _check_rows(table, state)
    frames = [body, resolved] + ([] if checked is None else [check_columns(checked, CHECKED)])
    return state, frames


WIDE = "indicator,initiative,geography,unit,source,2019,2020,2021\n" + (
    "financing,GG,WLD,EUR bn,ec-team-europe-2024,1,..,3\n"
    "power_capacity,BRI,Kazakhstan,MW,gfdc-bri-2023,500,,600\n"
)
NO_OPTIONAL_COLUMNS = "indicator,period,value,source\nnew_deal_value,2024,12.5,gfdc-bri-2023\n"
EVERY_PROBLEM = (
    "indicator,initiative,geography,period,value,unit,source,note\n"
    "nope,BRI,WLD,2024,1,USD bn,gfdc-bri-2023,\n"
    ",,,,,,,\n"
    "new_deal_value,XX,Atlantis,2024-Q9,abc,GW,unknown-source,\n"
    "new_deal_value,BRI,WLD,2024,1e308,thousand,gfdc-bri-2023,\n"
    "financing,GG,WLD,2024,5,XYZ bn,,\n"
)


@pytest.mark.parametrize(
    "name", [p.name for p in SHIPPED] + ["wide.csv", "no_optional.csv", "every_problem.csv"]
)
def test_real_files_hold_exactly_the_declared_columns_at_each_hand_over(
    name: str, catalog: Catalog, tmp_path: Path
) -> None:
    texts = {"wide.csv": WIDE, "no_optional.csv": NO_OPTIONAL_COLUMNS,
             "every_problem.csv": EVERY_PROBLEM}  # fmt: skip
    path = SHIPPED[0].parent / name if name not in texts else tmp_path / name
    if name in texts:
        path.write_text(texts[name])
    state, frames = _hand_overs(path, catalog)
    assert frames[1].height > 0
    if name == "every_problem.csv":
        assert state.problems.total >= 8
        with pytest.raises(IngestError) as refused:  # problems for the user, no internal error
            ingest.prepare([path], catalog, IngestOptions())
        assert "unexpected" not in str(refused.value)
    else:
        assert state.problems.total == 0
        assert len(frames) == 3 and frames[2].height > 0
        prepared = ingest.prepare([path], catalog, IngestOptions())
        assert prepared.rows.height == frames[2].height


def test_check_columns_refuses_a_frame_that_differs_from_its_declaration(
    catalog: Catalog,
) -> None:
    _, (_, resolved, checked) = _hand_overs(SHIPPED[0], catalog)
    with pytest.raises(AssertionError, match=r"missing \['_cur'\]"):
        check_columns(resolved.drop("_cur"), RESOLVED)
    with pytest.raises(AssertionError, match=r"not declared for this step \['_extra'\]"):
        check_columns(checked.with_columns(pl.lit(1).alias("_extra")), CHECKED)
    with pytest.raises(AssertionError, match=r"missing \['_file'\]; not declared .*'_value'"):
        check_columns(resolved, CHECKED)
    with pytest.raises(AssertionError, match=r"wrong dtype: _ind is Int64, declared UInt32"):
        check_columns(checked.with_columns(pl.col("_ind").cast(pl.Int64)), CHECKED)
    assert check_columns(checked.with_columns(pl.lit(1).alias("other")), CHECKED).width == 16
