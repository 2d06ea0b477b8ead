"""What `tracker ingest` is given: a folder, a FIFO or a device is refused as what it is
(without opening it: a FIFO would wait for a writer); the same file given twice is refused;
`batches.files` keeps each file name whole, whatever it holds."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import LONG_HEADER, db_execute, db_rows, invoke

TRACKER = [sys.executable, "-m", "tracker"]
COUNTS = "SELECT (SELECT count(*) FROM observations), (SELECT count(*) FROM batches)"


def _csv(path: Path, period: str = "2031") -> Path:
    row = ["financing", "GG", "WLD", period, "5", "EUR bn", "ec-team-europe-2024", ""]
    path.write_text(f"{','.join(LONG_HEADER)}\n{','.join(row)}\n", encoding="utf-8")
    return path


def test_a_folder_a_fifo_and_a_device_are_refused_as_what_they_are_without_blocking(
    tracker_db: Path, tmp_path: Path
) -> None:
    good = _csv(tmp_path / "good.csv")
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    before = db_rows(tracker_db, COUNTS)
    # A real process with a time limit: a FIFO opened for reading would wait forever.
    result = subprocess.run(
        [*TRACKER, "--db", str(tracker_db), "ingest", str(good), str(fifo), str(folder),
         "/dev/null", str(tmp_path / "missing.csv")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert f"{fifo}: is not a regular file (a FIFO); expected a CSV file." in message
    assert f"{folder}: is a folder; expected a CSV file." in message
    assert "/dev/null: is not a regular file (a character device)" in message
    assert f"{tmp_path / 'missing.csv'}: no such file." in message
    assert message.endswith("Nothing was loaded.") and str(good) not in message
    assert "Traceback" not in result.stderr
    assert db_rows(tracker_db, COUNTS) == before


def test_the_same_file_given_twice_by_any_name_is_refused(tracker_db: Path, tmp_path: Path) -> None:
    data = _csv(tmp_path / "data.csv")
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    before = db_rows(tracker_db, COUNTS)
    twice = invoke("ingest", data, data, db=tracker_db)
    assert twice.exit_code == 2
    assert f"{data}: given twice; give each file once. Nothing was loaded." in " ".join(
        twice.output.split()
    )
    other_name = invoke("ingest", data, link, db=tracker_db)
    assert other_name.exit_code == 2
    assert f"{link}: the same file as {data}, given before" in " ".join(other_name.output.split())
    assert db_rows(tracker_db, COUNTS) == before
    once = invoke("ingest", data, db=tracker_db)
    assert once.exit_code == 0 and "loaded 1 rows from 1 file(s)" in once.output
    assert db_rows(tracker_db, "SELECT rows_read FROM batches ORDER BY id DESC LIMIT 1") == [(1,)]


def test_batch_files_keep_names_that_hold_the_old_separator(
    tracker_db: Path, tmp_path: Path
) -> None:
    first = _csv(tmp_path / "a; b.csv", "2031")
    second = _csv(tmp_path / "c,d;.csv", "2032")
    result = invoke("ingest", first, second, db=tracker_db)
    assert result.exit_code == 0, result.output
    files, digests = db_rows(tracker_db, "SELECT files, sha256 FROM batches ORDER BY id DESC")[0]
    assert files == [str(first), str(second)]
    assert digests == [hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, second)]


def test_migration_003_turns_the_old_separated_text_into_lists(
    tracker_db: Path, tmp_path: Path
) -> None:
    # Make the database what tracker wrote before migration 003, with plain duckdb.
    with duckdb.connect(str(tracker_db)) as conn:
        conn.execute("BEGIN")
        for column in ("files", "sha256"):
            conn.execute(f"ALTER TABLE batches ALTER COLUMN {column} SET DATA TYPE TEXT "
                         f"USING array_to_string({column}, '; ')")  # fmt: skip
        conn.execute("DELETE FROM schema_migrations WHERE version = 3")
        conn.execute("COMMIT")
    db_execute(tracker_db, "UPDATE batches SET files = 'x.csv; y.csv', sha256 = '1; 2' "
                           "WHERE id = (SELECT min(id) FROM batches)")  # fmt: skip
    count = db_rows(tracker_db, "SELECT count(*) FROM batches")
    refused = invoke("indicators", db=tracker_db)
    assert refused.exit_code == 1 and "lacks migration(s) 003_batch_file_lists" in " ".join(
        refused.output.split()
    )
    migrated = invoke("init", db=tracker_db)
    assert migrated.exit_code == 0, migrated.output
    assert db_rows(tracker_db, "SELECT files, sha256 FROM batches ORDER BY id LIMIT 1") == [
        (["x.csv", "y.csv"], ["1", "2"])
    ]
    assert db_rows(tracker_db, "SELECT count(*) FROM batches") == count
    kinds = db_rows(
        tracker_db,
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'batches' AND column_name IN ('files', 'sha256')",
    )
    assert kinds == [("VARCHAR[]",), ("VARCHAR[]",)]


@pytest.mark.parametrize("name", ["[bold]x.csv", "a; b.csv", "tab\tname.csv"])
def test_odd_file_names_load_and_are_recorded_whole(
    tracker_db: Path, tmp_path: Path, name: str
) -> None:
    data = _csv(tmp_path / name)
    result = invoke("ingest", data, db=tracker_db)
    assert result.exit_code == 0, result.output
    assert db_rows(tracker_db, "SELECT files FROM batches ORDER BY id DESC LIMIT 1") == [
        ([str(data)],)
    ]
