"""More shared corpora through ingest: W3C CSVW tests, misc parser fixtures (CleverCSV,
csvlint.rb), raw World Bank WDI downloads and the top-level DuckDB CSV test files.

Every file (whatever its extension: the CSVW folders also hold JSON and Turtle) goes through
`ingest.load` (prepare + write_batch) in its own transaction on one database per module; it
loads or is refused with an IngestError, the database is unchanged after a refusal, any other
exception fails, and no file takes longer than FILE_SECONDS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import open_initialised
from tests.test_corpora import content
from tracker import ingest, store
from tracker.errors import IngestError

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
FILE_SECONDS = 10.0
FOLDERS = ("w3c-csvw-tests", "misc-parser-fixtures", "worldbank-wdi-raw")
WORLD_BANK = CORPORA / "worldbank-wdi-raw"


def corpus_files() -> list[Path]:
    found = [
        path
        for folder in FOLDERS
        if (CORPORA / folder).is_dir()
        for path in sorted((CORPORA / folder).rglob("*"))
        if path.is_file()
    ]
    duckdb_csv = CORPORA / "duckdb-data-csv" / "data" / "csv"
    if duckdb_csv.is_dir():
        found += sorted(p for p in duckdb_csv.glob("*.csv") if p.is_file())
    return found


FILES = corpus_files()
pytestmark = pytest.mark.skipif(
    not FILES, reason=f"the shared corpora are not checked out at {CORPORA}"
)


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[store.Connection]:
    """One initialised tracker database for the whole module."""
    with open_initialised(
        tmp_path_factory.mktemp("hardening-corpora") / "tracker.duckdb"
    ) as opened:
        yield opened


def load_or_refuse(conn: store.Connection, path: Path) -> IngestError | None:
    """One file in its own transaction: None when it loaded, the error when refused."""
    before = content(conn)
    conn.execute("BEGIN TRANSACTION")
    try:
        ingest.load(conn, [path], ingest.IngestOptions())
        conn.execute("COMMIT")
        return None
    except IngestError as error:
        conn.execute("ROLLBACK")
        assert not [p for p in error.problems if "could not be read (" in p], error.problems
        assert error.problems and all(p.strip() and "\n" not in p for p in error.problems)
        assert content(conn) == before
        return error
    except BaseException:
        conn.execute("ROLLBACK")
        raise


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPORA)) for p in FILES])
def test_hardening_corpus_file_loads_or_is_refused_in_bounded_time(
    conn: store.Connection, path: Path
) -> None:
    start = time.monotonic()
    load_or_refuse(conn, path)
    elapsed = time.monotonic() - start
    assert elapsed < FILE_SECONDS, f"{path.name} took {elapsed:.1f} s"


@pytest.mark.parametrize("path", sorted(WORLD_BANK.glob("API_*.csv")), ids=lambda p: str(p.name))
def test_world_bank_download_is_refused_pointing_to_tracker_import(
    conn: store.Connection, path: Path
) -> None:
    error = load_or_refuse(conn, path)
    assert error is not None
    assert len(error.problems) == 1
    advice = next(p for p in error.problems if "World Bank" in p)
    for needed in ("World Bank / WDI download", "`tracker import worldbank FILE`",
                   "indicators/mappings/"):  # fmt: skip
        assert needed in advice


def test_world_bank_header_without_preamble_is_refused_with_advice(
    conn: store.Connection, tmp_path: Path
) -> None:
    csv = tmp_path / "wdi.csv"
    csv.write_text(
        "Country Name,Country Code,Indicator Name,Indicator Code,2019,2020\n"
        "Kazakhstan,KAZ,GDP (current US$),NY.GDP.MKTP.CD,1.8E11,1.7E11\n",
        encoding="utf-8",
    )
    error = load_or_refuse(conn, csv)
    assert error is not None
    assert len(error.problems) == 1 and "World Bank / WDI download" in error.problems[0]
