"""Extra PostgreSQL databases on the test server (a stand-in replica, a restore target)."""

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connections
from psycopg import sql


def server_settings() -> dict[str, Any]:
    return connections["default"].settings_dict


def pg_env() -> dict[str, str]:
    """Environment for pg_dump/pg_restore/psql pointing at the test server."""
    db = server_settings()
    env = dict(os.environ)
    host = db.get("HOST") or (db.get("OPTIONS") or {}).get("host") or ""
    if host:
        env["PGHOST"] = host
    if db.get("PORT"):
        env["PGPORT"] = str(db["PORT"])
    env["PGUSER"] = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return env


def second_connection() -> psycopg.Connection:
    """A second connection to the test database, outside Django (autocommit): another
    session holding a lock or an open transaction while the code under test runs."""
    env = pg_env()
    return psycopg.connect(
        dbname=server_settings()["NAME"],
        host=env.get("PGHOST"),
        port=env.get("PGPORT"),
        user=env["PGUSER"],
        password=env.get("PGPASSWORD"),
        autocommit=True,
    )


def _admin() -> psycopg.Connection:
    env = pg_env()
    return psycopg.connect(
        dbname="postgres",
        host=env.get("PGHOST"),
        port=env.get("PGPORT"),
        user=env["PGUSER"],
        password=env.get("PGPASSWORD"),
        autocommit=True,
    )


def database_drop(name: str) -> None:
    with _admin() as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(name)))


def database_create(name: str) -> None:
    database_drop(name)
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def schema_copy(*, source: str, target: str) -> None:
    """The tables (no rows) of ``source`` into the empty database ``target``."""
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "-d", source],
        env=pg_env(),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", target],
        input=dump.stdout,
        env=pg_env(),
        check=True,
        capture_output=True,
    )


def alias_settings(name: str, **overrides: Any) -> dict[str, Any]:
    """Connection settings for database ``name`` on the test server (a copy of default's)."""
    base = server_settings()
    settings = {**base, "NAME": name, "TEST": {**base["TEST"], "NAME": name, "MIRROR": None}}
    settings["OPTIONS"] = dict(settings.get("OPTIONS") or {})
    settings.update(overrides)
    return settings


@contextmanager
def protocol_trace(connection: Any) -> Iterator[list[str]]:
    """libpq's trace of the messages a Django connection exchanges in the block (its lines
    are in the yielded list once the block ends)."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    lines: list[str] = []
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        try:
            yield lines
        finally:
            pgconn.untrace()
            trace.seek(0)
            lines.extend(trace.read().splitlines())


def round_trips(lines: list[str]) -> int:
    """How many times the client waited for the server: each simple Query it sent (one
    statement) and each Sync (the end of a batch of extended-protocol statements)."""
    sent = [line.split("\t") for line in lines]
    return sum(1 for f in sent if len(f) > 3 and f[1] == "F" and f[3].strip() in {"Query", "Sync"})


def simple_queries(lines: list[str]) -> list[str]:
    """The text of each simple Query message the client sent, in order."""
    sent = [line.split("\t") for line in lines]
    return [
        f[4].strip().strip('"')
        for f in sent
        if len(f) > 4 and f[1] == "F" and f[3].strip() == "Query"
    ]
