"""Every file of the shared CSV corpora either loads or is refused with an IngestError.

Each file goes through `ingest.load` (prepare + write_batch) in its own transaction on one
real database; after a refusal the database must be unchanged. Any other exception is a
failure (a traceback a user would see). Run with `-s` to see the table of outcomes.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import open_initialised
from tracker import ingest, store
from tracker.errors import IngestError

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
# name -> (folder, every file whatever its extension?)
CORPUS_FOLDERS = {
    "csv-spectrum": ("csv-spectrum", False),
    "frictionless-py-data": ("frictionless-py-data", False),
    "duckdb-afl": ("duckdb-data-csv/data/csv/afl", True),
    "duckdb-fuzzing": ("duckdb-data-csv/data/csv/fuzzing", True),
}
OPTION_SETS = {
    "defaults": ingest.IngestOptions(),
    # latin-1 decodes any bytes and --source supplies the source, so more files get past
    # the first checks and reach the parser and the row checks
    "latin-1+source": ingest.IngestOptions(
        source="corpus test run, not real figures", encoding="latin-1"
    ),
}


def corpus_files() -> list[tuple[str, Path]]:
    found = []
    for name, (folder, every_file) in CORPUS_FOLDERS.items():
        root = CORPORA / folder
        if root.is_dir():
            found += [
                (name, path)
                for path in sorted(root.rglob("*"))
                if path.is_file() and (every_file or path.suffix.lower() in TEXT_SUFFIXES)
            ]
    return found


FILES = corpus_files()
pytestmark = pytest.mark.skipif(
    not FILES, reason=f"the shared corpora are not checked out at {CORPORA}"
)
Outcomes = collections.Counter[tuple[str, str, str]]


@pytest.fixture(scope="module")
def outcomes() -> Iterator[Outcomes]:
    """(options, corpus, outcome) -> count; printed as a table when the module ends."""
    counts: Outcomes = collections.Counter()
    yield counts
    print("\n\noptions         corpus                 files  loaded  refused  tracebacks")
    for options in OPTION_SETS:
        for corpus in CORPUS_FOLDERS:
            got = {k: counts[(options, corpus, k)] for k in ("loaded", "refused", "traceback")}
            print(
                f"{options:15} {corpus:22} {sum(got.values()):5}  {got['loaded']:6}  "
                f"{got['refused']:7}  {got['traceback']:10}"
            )


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[store.Connection]:
    """One initialised tracker database for the whole run."""
    with open_initialised(tmp_path_factory.mktemp("corpora") / "tracker.duckdb") as opened:
        yield opened


def content(conn: store.Connection) -> tuple[object, ...]:
    frame = store.query(
        conn,
        "SELECT (SELECT count(*) FROM observations) AS o, (SELECT count(*) FROM batches) AS b,"
        " (SELECT count(*) FROM sources) AS s,"
        " (SELECT bit_xor(hash(indicator, initiative, geography, period, source, value,"
        "   currency, value_as_given, unit_as_given, note, superseded_at)) FROM observations)"
        "   AS h",
    )
    return tuple(frame.row(0))


@pytest.mark.parametrize("option_set", list(OPTION_SETS))
@pytest.mark.parametrize(
    ("corpus", "path"), FILES, ids=[str(p.relative_to(CORPORA)) for _, p in FILES]
)
def test_corpus_file_loads_or_is_refused_cleanly(
    conn: store.Connection, outcomes: Outcomes, option_set: str, corpus: str, path: Path
) -> None:
    before = content(conn)
    conn.execute("BEGIN TRANSACTION")
    try:
        ingest.load(conn, [path], OPTION_SETS[option_set])
        conn.execute("COMMIT")
        outcomes[(option_set, corpus, "loaded")] += 1
    except IngestError as error:
        conn.execute("ROLLBACK")
        internal = [p for p in error.problems if "could not be read (" in p]
        outcomes[(option_set, corpus, "traceback" if internal else "refused")] += 1
        assert not internal, "an unexpected exception was turned into a problem"
        assert error.problems and all(p.strip() and "\n" not in p for p in error.problems)
        assert content(conn) == before
    except BaseException:
        conn.execute("ROLLBACK")
        outcomes[(option_set, corpus, "traceback")] += 1
        raise
