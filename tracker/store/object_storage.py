"""A team store's Parquet files in S3 or an S3-compatible store (MinIO, ...): TRACKER_DATA_PATH
an `s3://bucket/prefix/` URL.

Imported by `team` only; used only when the data path is an s3:// URL, so a folder data path
loads nothing of this and no extension more. Credentials come only from the standard AWS
variables (`S3Settings.from_environment`) and go into a temporary DuckDB secret on the one
connection: never into a message, a log, a file or the catalog (DuckDB's `duckdb_secrets()`
shows the secret redacted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import duckdb

from tracker.errors import InputError, TrackerError
from tracker.location import TeamStore
from tracker.store.connection import Connection, first_line

S3_PREFIX = "s3://"
KEY_ID_ENV = "AWS_ACCESS_KEY_ID"
SECRET_ENV = "AWS_SECRET_ACCESS_KEY"
TOKEN_ENV = "AWS_SESSION_TOKEN"
REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")
# AWS_ENDPOINT_URL_S3 (the service-specific form) wins over AWS_ENDPOINT_URL, as in the AWS
# SDKs and CLI.
ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
DEFAULT_REGION = "us-east-1"
_SECRET_NAME = "tracker_s3"
# A listing no tracker file matches: it reaches the bucket with the credentials and finds
# nothing (S3 lists by prefix, so it reads no more than the names under it).
_PROBE = "tracker-reach-check-*"


class ObjectStorageError(InputError):
    """The s3:// data path cannot be used: credentials missing or refused, the endpoint
    unreachable, the bucket missing (exit code 2)."""


class DataPathLostError(TrackerError):
    """The s3:// data path stopped answering during a command (exit code 1)."""


def is_s3(data_path: str) -> bool:
    """True when the data path is an s3:// URL (else a folder)."""
    return data_path.lower().startswith(S3_PREFIX)


@dataclass(frozen=True, repr=False)
class S3Settings:
    """What the secret is made of. `repr` is off: the secret must not reach a traceback."""

    key_id: str
    secret: str
    session_token: str
    region: str
    endpoint: str  # host[:port]; "" for AWS itself
    use_ssl: bool
    path_style: bool

    @classmethod
    def from_environment(cls, store: TeamStore) -> S3Settings:
        """The settings from the AWS variables; ObjectStorageError naming the missing ones
        (never a value)."""
        missing = [name for name in (KEY_ID_ENV, SECRET_ENV) if not os.environ.get(name)]
        if missing:
            raise ObjectStorageError(
                f"{store}: TRACKER_DATA_PATH is {store.data_path}, and reaching it needs S3 "
                f"credentials, but {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set. Set {KEY_ID_ENV} and "
                f"{SECRET_ENV} (and {TOKEN_ENV} for temporary credentials, AWS_REGION, and "
                "AWS_ENDPOINT_URL for an S3-compatible store such as MinIO) in the "
                "environment; tracker reads them from nowhere else. Nothing was changed."
            )
        region = next((os.environ[n] for n in REGION_ENVS if os.environ.get(n)), "")
        endpoint_url = next((os.environ[n] for n in ENDPOINT_ENVS if os.environ.get(n)), "")
        endpoint, use_ssl = "", True
        if endpoint_url:
            parts = urlsplit(endpoint_url if "://" in endpoint_url else f"https://{endpoint_url}")
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ObjectStorageError(
                    f"{store}: AWS_ENDPOINT_URL is {endpoint_url!r}, not an endpoint tracker "
                    "can use; write http://HOST:PORT or https://HOST[:PORT] (e.g. "
                    "http://minio.example.org:9000). Nothing was changed."
                )
            endpoint, use_ssl = parts.netloc, parts.scheme == "https"
        return cls(
            key_id=os.environ[KEY_ID_ENV],
            secret=os.environ[SECRET_ENV],
            session_token=os.environ.get(TOKEN_ENV, ""),
            region=region or DEFAULT_REGION,
            endpoint=endpoint,
            use_ssl=use_ssl,
            # S3-compatible servers (MinIO, ...) serve buckets as paths; AWS as host names
            path_style=bool(endpoint),
        )


def _literal(text: str) -> str:
    """`text` as an SQL string literal: CREATE SECRET takes no bound parameters."""
    return "'" + text.replace("'", "''") + "'"


def open_data_path(store: TeamStore, conn: Connection, httpfs: str) -> None:
    """Load httpfs (from `httpfs`, the wheel's file) on `conn`, give it the S3 secret from
    the environment and reach the bucket once, so a store it cannot use is refused before
    the catalog is touched; ObjectStorageError with the fix otherwise."""
    settings = S3Settings.from_environment(store)
    options = {
        "KEY_ID": settings.key_id,
        "SECRET": settings.secret,
        "REGION": settings.region,
        "USE_SSL": "true" if settings.use_ssl else "false",
    }
    if settings.session_token:
        options["SESSION_TOKEN"] = settings.session_token
    if settings.endpoint:
        options["ENDPOINT"] = settings.endpoint
    if settings.path_style:
        options["URL_STYLE"] = "path"
    body = ", ".join(
        f"{key} {value if key == 'USE_SSL' else _literal(value)}" for key, value in options.items()
    )
    conn.execute(f"LOAD {_literal(httpfs)}")
    try:
        conn.execute(f"CREATE TEMPORARY SECRET {_SECRET_NAME} (TYPE s3, {body})")
    except duckdb.Error:  # DuckDB's message would echo the statement: it is not shown
        raise ObjectStorageError(
            f"{store}: DuckDB refused the S3 settings made from AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION and AWS_ENDPOINT_URL (not "
            "shown). Check them; nothing was changed."
        ) from None
    probe = store.data_path.rstrip("/") + "/" + _PROBE
    try:
        conn.execute("SELECT count(*) FROM glob(?)", [probe]).fetchall()
    except duckdb.Error as error:
        raise unreachable(store, settings, str(error)) from None


def unreachable(store: TeamStore, settings: S3Settings, message: str) -> ObjectStorageError:
    """The one paragraph for a bucket that cannot be reached, from DuckDB's error (which
    names URLs and HTTP codes, never the secret)."""
    where = (
        f"the endpoint {'https' if settings.use_ssl else 'http'}://{settings.endpoint} "
        "(AWS_ENDPOINT_URL)"
        if settings.endpoint
        else f"AWS S3 in region {settings.region} (AWS_REGION)"
    )
    reason = " ".join(first_line(message).split())
    if "NoSuchBucket" in message:
        fix = "the bucket does not exist: create it, or correct TRACKER_DATA_PATH"
    elif "403" in message or "AccessDenied" in message or "SignatureDoesNotMatch" in message:
        fix = (
            "the credentials were refused: check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
            "and AWS_SESSION_TOKEN, and that they may list and write the bucket"
        )
    elif "Could not connect" in message or "resolve" in message:
        fix = (
            "nothing answered there: check AWS_ENDPOINT_URL (host, port, http or https) "
            "and that the server runs"
        )
    else:
        fix = (
            "check AWS_ENDPOINT_URL, AWS_REGION and the credentials in AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY"
        )
    return ObjectStorageError(
        f"{store}: cannot reach the team store's data path {store.data_path} at {where} "
        f"({reason}); {fix}. Nothing was changed."
    )


def is_transfer_error(error: BaseException) -> bool:
    """True for DuckDB failing to read or write an object of the data path."""
    return isinstance(error, duckdb.IOException | duckdb.HTTPException) and (
        S3_PREFIX in str(error) or "HTTP " in str(error)
    )


def failed_during(store: TeamStore, message: str) -> DataPathLostError:
    """The one paragraph for a read or write of the data path that failed mid-command."""
    return DataPathLostError(
        f"{store}: reading or writing the team store's Parquet files under "
        f"{store.data_path} failed during the command ({' '.join(first_line(message).split())})."
        " The catalog records a change only once all its files are written, so nothing of "
        "it was recorded. Check AWS_ENDPOINT_URL and the credentials (AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY), then run the command again."
    )
