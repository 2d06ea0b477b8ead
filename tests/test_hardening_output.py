"""Unwritable output: `tracker brief --out` a file, a folder under a file, a read-only folder
and a full disk. Each time: one clear message, exit code 1, no traceback, no published or
temporary file left, and the run recorded as failed.

A read-only folder and a full disk need a small tmpfs (root can write through chmod 0o500);
those cases are skipped where `mount` is not allowed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import invoke, runs_rows

REPORT = "programmes-compared"


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []


def _assert_refused_cleanly(db: Path, out: Path, formats: str = "html") -> str:
    result = invoke("brief", REPORT, "--out", out, "--format", formats, db=db)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "Internal error" not in result.output
    assert result.output.startswith("cannot write the briefing to "), result.output
    assert "--out" in result.output
    statuses = runs_rows(db, "SELECT status FROM report_runs")
    assert statuses and all(status == ("failed",) for status in statuses), statuses
    return result.output


def _tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 KiB tmpfs: the folders fit, the PDF does not."""
    yield from _tmpfs(tmp_path / "full", "size=40k")


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs (chmod 0o500 does not stop root)."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o500)
        yield folder
        folder.chmod(0o700)
    else:
        yield from _tmpfs(tmp_path / "read-only", "ro,size=40k")


def test_brief_out_an_existing_file_is_refused(tracker_db: Path, tmp_path: Path) -> None:
    (tmp_path / "place").mkdir()
    out = tmp_path / "place" / "not-a-folder"
    out.write_text("keep me\n", encoding="utf-8")
    message = _assert_refused_cleanly(tracker_db, out)
    assert "Not a directory" in message
    assert out.read_text(encoding="utf-8") == "keep me\n"
    assert _files(tmp_path / "place") == [out]


def test_brief_out_under_a_file_is_refused(tracker_db: Path, tmp_path: Path) -> None:
    (tmp_path / "place").mkdir()
    blocker = tmp_path / "place" / "a-file"
    blocker.write_text("", encoding="utf-8")
    _assert_refused_cleanly(tracker_db, blocker / "briefings")
    assert _files(tmp_path / "place") == [blocker]


def test_brief_out_a_read_only_folder_is_refused(tracker_db: Path, read_only_folder: Path) -> None:
    _assert_refused_cleanly(tracker_db, read_only_folder)
    assert _files(read_only_folder) == []


def test_brief_on_a_full_disk_is_refused_and_leaves_no_partial_file(
    tracker_db: Path, full_disk: Path
) -> None:
    message = _assert_refused_cleanly(tracker_db, full_disk, "pdf,html")
    assert "No space left on device" in message
    assert _files(full_disk) == []
