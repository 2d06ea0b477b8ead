"""The throwaway PostgreSQL server the team-store tests run against starts, takes a password
from the environment only, and gives each test its own database."""

from __future__ import annotations

import subprocess

import pytest

from tests.postgres_server import PostgresServer


def test_each_test_gets_its_own_empty_database(
    postgres_server: PostgresServer, postgres_database: str
) -> None:
    name = postgres_database.split()[0].removeprefix("dbname=")
    tables = postgres_server.psql(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'", name
    )
    assert tables == "0"
    assert name.startswith("t_test_each_test_gets_its_own_empty_database_")


def test_the_server_refuses_a_login_without_the_password(postgres_server: PostgresServer) -> None:
    command = [str(postgres_server.bin / "psql"), "-X", "-w", "-c", "SELECT 1",
               postgres_server.conninfo("postgres")]  # fmt: skip
    refused = subprocess.run(command, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "password" in refused.stderr.lower()


def test_queries_run_as_the_superuser_and_errors_raise(postgres_server: PostgresServer) -> None:
    # Session scope: the same server for every test (starting one costs about a second).
    assert postgres_server.psql("SELECT current_setting('port')") == str(postgres_server.port)
    with pytest.raises(subprocess.CalledProcessError):
        postgres_server.psql("SELECT * FROM no_such_table")
