"""A team store with its Parquet files in S3 (issue 15): TRACKER_DATA_PATH an s3:// URL on a
real S3-compatible server on loopback (moto in server mode, tests/s3_server.py), the catalog
in the real PostgreSQL fixture, through the real CLI: init, ingest of the shipped CSVs,
target_progress, a draft briefing, and the Parquet files listed in the bucket. httpfs is
loaded only for an s3:// data path; missing credentials, an endpoint where nothing answers
and a missing bucket are refused in one paragraph that shows no secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import PROJECT, S3_SECRET, SHIPPED_OBSERVATIONS, free_port, invoke
from tests.s3_server import S3Server, refusing_server
from tests.test_team_store import PROGRESS, ok, sql_csv
from tracker import store
from tracker.location import store_location

REPORT = "programmes-compared"


def _loaded(url: str) -> set[str]:
    """The DuckDB extensions loaded on a connection tracker opens to the store `url`."""
    with store.connect(store_location(url), read_only=True) as conn:
        rows = conn.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded")
        return {str(name) for (name,) in rows.fetchall()}


def test_a_team_store_keeps_its_parquet_files_in_an_s3_bucket(
    s3_data_path: tuple[S3Server, str], postgres_database: str, home_with_alert: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    server, bucket = s3_data_path
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = f"ducklake:postgres:{postgres_database}"
    file_db = tmp_path / "file.duckdb"
    assert "001_initial" in ok("--db", url, "init")
    ok("--db", file_db, "init")
    summary = ok("--db", url, "ingest", *SHIPPED_OBSERVATIONS)
    assert summary == ok("--db", file_db, "ingest", *SHIPPED_OBSERVATIONS)
    assert "as batch 1: 37 new" in summary

    # the same figures as the file store, read back through the bucket
    progress = sql_csv(url, PROGRESS)
    assert len(progress) > 1 and progress == sql_csv(file_db, PROGRESS)
    assert sql_csv(url, "SELECT count(*) FROM observations") == [["count_star()"], ["37"]]

    out = tmp_path / "out"
    ok("--db", url, "brief", REPORT, "--out", out)
    [manifest_file] = out.rglob("manifest.json")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    assert manifest["published"] is False
    pdf = manifest_file.parent / f"{REPORT}.pdf"
    text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "EUR 306 bn" in text  # the GG figure, read from the bucket

    # the Parquet files are in the bucket, under the data path's prefix, and nowhere local
    keys = server.keys(bucket)
    parquet = [key for key in keys if key.endswith(".parquet")]
    assert parquet and all(key.startswith("lake/") for key in keys), keys
    assert any("/observations/" in key for key in parquet), parquet
    assert not list(tmp_path.rglob("*.parquet"))

    # `tracker sql` reaches the data path's objects, and no other object of the server
    server.client.put_object(Bucket=bucket, Key="outside/x.csv", Body=b"a\n1\n")
    assert sql_csv(url, f"SELECT count(*) FROM glob('s3://{bucket}/lake/**')")[1] == [
        str(len(keys))
    ]
    refused = invoke("--db", url, "sql", f"SELECT * FROM read_csv('s3://{bucket}/outside/x.csv')")
    assert refused.exit_code == 2 and "Permission Error" in refused.output, refused.output
    assert "httpfs" in _loaded(url)


def test_a_folder_data_path_loads_no_httpfs(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_DATA_PATH", f"{tmp_path / 'lake'}/")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = f"ducklake:postgres:{postgres_database}"
    ok("--db", url, "init")
    loaded = _loaded(url)
    assert "ducklake" in loaded and "httpfs" not in loaded


def _refused(*args: str, env: dict[str, str]) -> str:
    """`tracker ARGS` in a process of its own that must exit 2 in one line, no traceback."""
    done = subprocess.run([sys.executable, "-m", "tracker", *args], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip
    printed = done.stdout + done.stderr
    assert done.returncode == 2, printed
    assert "Traceback" not in printed and printed.strip().count("\n") == 0, printed
    assert S3_SECRET not in printed
    return printed


def test_an_s3_data_path_it_cannot_use_is_refused_in_one_paragraph(
    s3_data_path: tuple[S3Server, str], postgres_server: object, postgres_database: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    server, bucket = s3_data_path
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env |= {"TRACKER_DATA_PATH": f"s3://{bucket}/lake/", "XDG_CACHE_HOME": str(tmp_path)}
    url = f"ducklake:postgres:{postgres_database}"

    no_secret = {k: v for k, v in env.items() if k != "AWS_SECRET_ACCESS_KEY"}
    printed = _refused("--db", url, "init", env=no_secret)
    assert "AWS_SECRET_ACCESS_KEY is not set" in printed and "AWS_ENDPOINT_URL" in printed
    no_keys = {k: v for k, v in no_secret.items() if k != "AWS_ACCESS_KEY_ID"}
    printed = _refused("--db", url, "init", env=no_keys)
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set" in printed

    nothing_there = f"http://127.0.0.1:{free_port()}"
    printed = _refused("--db", url, "init", env=env | {"AWS_ENDPOINT_URL": nothing_there})
    assert f"at the endpoint {nothing_there} (AWS_ENDPOINT_URL)" in printed
    assert "nothing answered there" in printed

    with refusing_server() as refusing:
        printed = _refused("--db", url, "init", env=env | {"AWS_ENDPOINT_URL": refusing})
    assert "HTTP 403" in printed and "the credentials were refused" in printed

    printed = _refused("--db", url, "init", env=env | {"TRACKER_DATA_PATH": "s3://nobucket/x/"})
    assert "the bucket does not exist" in printed

    printed = _refused("--db", url, "init", env=env | {"AWS_ENDPOINT_URL": "ftp://h:21"})
    assert "AWS_ENDPOINT_URL is 'ftp://h:21'" in printed

    # nothing was made in the catalog's database nor in the bucket
    dbname = postgres_database.split("dbname=")[1].split()[0]
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    assert int(postgres_server.psql(tables, dbname)) == 0  # type: ignore[attr-defined]
    assert server.keys(bucket) == []


def test_a_file_of_the_bucket_that_cannot_be_read_is_one_paragraph(
    s3_data_path: tuple[S3Server, str], postgres_database: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The bucket answers when the store is opened, but a Parquet file the catalog lists is
    gone (removed behind the catalog's back): DataPathLostError (exit 1), one paragraph
    naming the data path and the variables, showing no secret."""
    from tracker.store.object_storage import DataPathLostError

    server, bucket = s3_data_path
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = f"ducklake:postgres:{postgres_database}"
    ok("--db", url, "init")
    for key in server.keys(bucket):
        if "/geographies/" in key:
            server.delete(bucket, key)
    with pytest.raises(DataPathLostError) as lost:
        with store.connect(store_location(url), read_only=True) as conn:
            conn.execute("SELECT * FROM geographies").fetchall()
    message = str(lost.value)
    assert lost.value.exit_code == 1 and os.environ["TRACKER_DATA_PATH"] in message
    assert "AWS_ENDPOINT_URL" in message and "nothing of it was recorded" in message
    assert "404" in message and S3_SECRET not in message
    result = invoke("--db", url, "sql", "SELECT * FROM geographies")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "nothing of it was recorded" in " ".join(result.output.split()), result.output


def test_the_readme_names_every_aws_variable_tracker_reads() -> None:
    from tracker.store import object_storage

    section = (PROJECT / "README.md").read_text(encoding="utf-8").split("## Team store")[1]
    names = [object_storage.KEY_ID_ENV, object_storage.SECRET_ENV, object_storage.TOKEN_ENV,
             *object_storage.REGION_ENVS, *object_storage.ENDPOINT_ENVS]  # fmt: skip
    assert [name for name in names if name not in section] == []
