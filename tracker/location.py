"""Where the store lives: a DuckDB file (a `Path`, the single-file store) or a team store (a
DuckLake catalog in PostgreSQL with its Parquet files under a data path).

`--db` / `TRACKER_DB` take either: a path, or `ducklake:postgres:<libpq conninfo>` with the
data path in `TRACKER_DATA_PATH`. Credentials never appear in either: libpq reads them from
PGPASSWORD, PGPASSFILE or PGSERVICEFILE, so `str(location)` is safe to print, to log and to
hand to a child process. No work at import; imports nothing of ours but `errors`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from tracker.errors import InputError

TEAM_PREFIX = "ducklake:postgres:"
DATA_PATH_ENV = "TRACKER_DATA_PATH"
# A password in the conninfo, as `password=...` (any case, spaces around `=`) or in a URI's
# user part (`postgresql://user:secret@host`); compiled only for a team store.
_PASSWORD_KEY = r"(^|[\s?&])password\s*="
_PASSWORD_IN_URI = r"^postgres(ql)?://[^@/?#]*:[^@/?#]*@"


@dataclass(frozen=True)
class TeamStore:
    """A team store: the DuckLake catalog in the PostgreSQL database `conninfo` names (a
    libpq connection string without a password) and the folder or `s3://` URL holding its
    Parquet files (`data_path`)."""

    conninfo: str
    data_path: str

    def __str__(self) -> str:
        """The `--db` form: `ducklake:postgres:dbname=tracker host=db.example.org`."""
        return f"{TEAM_PREFIX}{self.conninfo}"


# Every command takes one of these: the single-file store's path, or a team store.
StoreLocation = Path | TeamStore


def store_location(text: str) -> StoreLocation:
    """The store `text` names (`--db`, `TRACKER_DB`): a team store for
    `ducklake:postgres:<conninfo>` (its data path from TRACKER_DATA_PATH), else a file path.

    InputError (exit 2) for a `ducklake:` text that is not a PostgreSQL catalog, holds a
    password, or comes without TRACKER_DATA_PATH."""
    if not text.lower().startswith("ducklake:"):
        return Path(text)
    if not text.startswith(TEAM_PREFIX):
        raise InputError(
            f"--db: {_shown(text)} is a DuckLake catalog tracker cannot use: a team store's "
            f"catalog is in PostgreSQL, written `{TEAM_PREFIX}dbname=tracker host=HOST "
            "user=USER` (a libpq connection string)."
        )
    conninfo = text[len(TEAM_PREFIX) :].strip()
    if any(re.search(pattern, conninfo, re.IGNORECASE)
           for pattern in (_PASSWORD_KEY, _PASSWORD_IN_URI)):  # fmt: skip
        raise InputError(
            "--db: the team store's connection string holds a password; it was not used and "
            "is not shown. Leave it out of --db and TRACKER_DB, and give it to libpq through "
            "PGPASSWORD, a PGPASSFILE (~/.pgpass) or a PGSERVICEFILE entry, so it is never "
            "printed, logged or recorded."
        )
    if not conninfo:
        raise InputError(
            f"--db: {text} names no PostgreSQL database; write `{TEAM_PREFIX}dbname=tracker "
            "host=HOST user=USER`."
        )
    data_path = os.environ.get(DATA_PATH_ENV, "").strip()
    if not data_path:
        raise InputError(
            f"--db: the team store {text} needs {DATA_PATH_ENV}: the shared folder (or "
            "s3:// URL) that holds its Parquet files, the same on every machine. Set "
            f"{DATA_PATH_ENV} and run the command again."
        )
    return TeamStore(conninfo, data_path)


def _shown(text: str) -> str:
    """`text` as a message may show it: a catalog string that might hold a password is cut
    after its kind."""
    return text if "password" not in text.lower() and "@" not in text else text.split(":")[0]


def may_exist(location: StoreLocation) -> bool:
    """False only for a store known to be missing: a path with no file. A team store is
    reached to find out (a missing one is then a DatabaseFileError saying to run init)."""
    return location.exists() if isinstance(location, Path) else True
