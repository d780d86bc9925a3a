"""PostgreSQL outside the ORM: plain psycopg connections and the client tools
(pg_dump, pg_restore), both pointed at a database given as Django settings or a URL."""

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import environ
import psycopg
from django.conf import settings
from django.db import connections

from core.errors import MISSING_TOOL, TOOL_FAILED, ApplicationError

# What psycopg takes from a Django OPTIONS dict (libpq keywords); Django-only keys are dropped.
_LIBPQ_OPTIONS = {"host", "sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout"}


def database_settings(url: str | None = None) -> dict[str, Any]:
    """A Django-style settings dict: the default database's, or the one ``url`` names."""
    if url is None:
        return dict(connections["default"].settings_dict)
    config: dict[str, Any] = environ.Env.db_url_config(url)
    config.setdefault("OPTIONS", {})
    return config


def conninfo(db: Mapping[str, Any], *, dbname: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``psycopg.connect``."""
    options = db.get("OPTIONS") or {}
    params: dict[str, Any] = {k: v for k, v in options.items() if k in _LIBPQ_OPTIONS}
    params["dbname"] = dbname or db["NAME"]
    for key, name in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host")):
        if db.get(key):
            params[name] = db[key]
    if db.get("PORT"):
        params["port"] = str(db["PORT"])
    return params


def connect(db: Mapping[str, Any], *, dbname: str | None = None, **kwargs: Any) -> Any:
    """A new psycopg connection (the caller closes it), not one of Django's."""
    return psycopg.connect(**conninfo(db, dbname=dbname), **kwargs)


def tool_env(db: Mapping[str, Any]) -> dict[str, str]:
    """Environment for pg_dump/pg_restore: the connection as libpq's PG* variables."""
    env = dict(os.environ)
    params = conninfo(db)
    names = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "sslmode": "PGSSLMODE",
        "connect_timeout": "PGCONNECT_TIMEOUT",
    }
    for key, variable in names.items():
        if params.get(key):
            env[variable] = str(params[key])
    env["PGDATABASE"] = params["dbname"]
    return env


def tool(name: str) -> str:
    """The path of a PostgreSQL client tool: in ``PG_BIN_DIR`` when set, else on PATH."""
    folder = settings.PG_BIN_DIR
    found = str(Path(folder) / name) if folder else shutil.which(name)
    if not found or not Path(found).exists():
        raise ApplicationError(
            f"{name} not found: install the PostgreSQL client tools of the server's major "
            "version, or set PG_BIN_DIR to their folder.",
            code=MISSING_TOOL,
        )
    return found


def run_tool(name: str, args: list[str], *, db: Mapping[str, Any]) -> None:
    """Run a client tool; its error output becomes an ApplicationError."""
    done = subprocess.run(
        [tool(name), *args], env=tool_env(db), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ApplicationError(
            f"{name} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}",
            code=TOOL_FAILED,
        )
