"""Files written atomically: each under a temporary name in its own folder, flushed to disk,
then renamed into place, so a reader sees the old file or the new one, never part of one;
and the files a command is given, checked before any is opened (`file_problems`).

The temporary name is `.<name>.tmp-<pid of the writer>`; `remove_stale_temporaries` clears
those a killed writer left behind.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

# The temporary name of an output being written (outputs are PDF, HTML, CSV or JSON).
TEMPORARY_NAME = re.compile(
    r"^\.(?P<name>.+\.(?:pdf|html|csv|json))\.tmp-(?P<pid>[1-9][0-9]{0,9})$"
)


def temporary_path(path: Path) -> Path:
    """Where `path` is written before it is renamed into place."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_temporary(path: Path, chunks: Iterable[bytes]) -> Path:
    """Write `chunks` to the temporary file of `path`, flushed to disk; returns its path.
    Nothing is left behind when writing fails."""
    temp = temporary_path(path)
    try:
        with open(temp, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def write_atomically(path: Path, chunks: Iterable[bytes]) -> None:
    """Replace `path` with `chunks` in one rename."""
    temp = write_temporary(path, chunks)
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files a killed writer left in `folder` (see `TEMPORARY_NAME`)
    whose process is gone. Files of a live process, and every other file, are kept; returns
    what was removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = TEMPORARY_NAME.match(entry.name)
        if match is None or _process_exists(int(match["pid"])):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone already, or not ours to remove: the writer goes on
            continue
    return removed


def _process_exists(pid: int) -> bool:
    """Whether process `pid` exists (a zombie or another user's process counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or not a pid: keep its files
    return True


def file_problems(paths: Sequence[Path]) -> list[str]:
    """What is wrong with `paths`, found before any file is opened: a path that is missing
    or not a regular file (a folder, a FIFO, a device), a file given twice (by any name).

    Giving a file twice is a slip (a glob that also matches a file named on its own); loading
    it once would report rows read that were not, and listing it twice would record a batch
    of files that is not what was read.
    """
    problems = []
    seen: dict[tuple[int, int], int] = {}
    for number, path in enumerate(paths):
        try:
            found = path.stat()  # stat, not open: opening a FIFO waits for a writer
        except FileNotFoundError:
            problems.append(f"{path}: no such file.")
            continue
        except OSError as error:
            problems.append(f"{path}: cannot be read ({error.strerror or error}).")
            continue
        kind = not_a_regular_file(found.st_mode)
        if kind:
            problems.append(f"{path}: {kind}; expected a CSV file.")
            continue
        key = (found.st_dev, found.st_ino)
        if key not in seen:
            seen[key] = number
            continue
        first = paths[seen[key]]
        same = "given twice" if first == path else f"the same file as {first}, given before"
        problems.append(f"{path}: {same}; give each file once.")
    return problems


def not_a_regular_file(mode: int) -> str:
    """What a file of this `st_mode` is when it is not a regular file ('is a folder'); ''
    for a regular file."""
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISDIR(mode):
        return "is a folder"
    kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISCHR: "a character device",
             stat.S_ISBLK: "a block device", stat.S_ISSOCK: "a socket"}  # fmt: skip
    kind = next((name for test, name in kinds.items() if test(mode)), "of another kind")
    return f"is not a regular file ({kind})"
