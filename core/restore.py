"""Restore a backup (core/backups.py) into an empty database, then check it is all there."""

import logging
from pathlib import Path
from typing import Any

from psycopg import sql

from core import pg
from core.backups import DATABASE_FILE, backup_verify, row_counts
from core.errors import INCOMPLETE, NOT_EMPTY, ApplicationError
from core.partitions import ARCHIVE_SCHEMA

logger = logging.getLogger(__name__)

_RESTORE_ARGS = ["--no-owner", "--no-privileges", "--exit-on-error"]


def database_create_if_missing(db: dict[str, Any]) -> bool:
    """Create ``db``'s database on its server when it does not exist. True if created."""
    with pg.connect(db, dbname="postgres", autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
        if found.fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
        return True


def _refuse_unless_empty(db: dict[str, Any]) -> None:
    with pg.connect(db) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()[0]
    if tables:
        raise ApplicationError(
            f"The database {db['NAME']!r} already has {tables} tables: restore into an empty "
            "database (create a new one, or drop and create this one first).",
            code=NOT_EMPTY,
            status_code=409,
        )


def backup_restore(*, path: Path, db: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Restore the backup at ``path`` into the empty database ``db`` (Django-style settings).

    The files are checked against the manifest first; afterwards the row counts of every
    partitioned table, live and archived, must equal the manifest's. Returns those counts.
    """
    manifest = backup_verify(Path(path))
    _refuse_unless_empty(db)
    main = Path(path) / DATABASE_FILE
    pg.run_tool("pg_restore", [*_RESTORE_ARGS, f"--dbname={db['NAME']}", str(main)], db=db)
    archives = [e for e in manifest["files"] if e["kind"] == "archive"]
    with pg.connect(db, autocommit=True) as conn:
        schema = sql.Identifier(ARCHIVE_SCHEMA)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
    for entry in archives:
        file = Path(path) / entry["name"]
        pg.run_tool("pg_restore", [*_RESTORE_ARGS, f"--dbname={db['NAME']}", str(file)], db=db)
    with pg.connect(db) as conn, conn.cursor() as cursor:
        counts = row_counts(cursor)
    if counts != manifest["counts"]:
        raise ApplicationError(
            f"Restored, but the row counts differ from the backup's: {counts} != "
            f"{manifest['counts']}",
            code=INCOMPLETE,
        )
    logger.info("backup %s restored into %s (%d archived tables)", path, db["NAME"], len(archives))
    return counts
