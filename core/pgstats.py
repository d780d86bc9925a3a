"""The slowest statements from PostgreSQL's ``pg_stat_statements`` (read by an admin page).

The extension must be loaded at server start (``shared_preload_libraries``) and created in
the database (``CREATE EXTENSION pg_stat_statements``); README "Alerts" says how. Without it
the page says what is missing instead of failing.
"""

from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections, transaction

SORTS = {
    "total": "total_exec_time",
    "mean": "mean_exec_time",
    "calls": "calls",
    "rows": "rows",
}
QUERY_CHARS = 2000


@dataclass
class SlowStatements:
    rows: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""  # why there are none to show ("" when the extension answered)


def _installed(cursor: Any) -> bool:
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
    return cursor.fetchone() is not None


def statements_read(cursor: Any, *, sort: str = "total", limit: int = 50) -> SlowStatements:
    """The top ``limit`` statements of the cursor's database by ``sort`` (a key of SORTS),
    through any DB-API cursor (Django's or psycopg's)."""
    if not _installed(cursor):
        return SlowStatements(
            problem="The pg_stat_statements extension is not created in this database: "
            "run CREATE EXTENSION pg_stat_statements (see README, Alerts)."
        )
    cursor.execute(
        "SELECT s.queryid::text, left(s.query, %s), s.calls, s.total_exec_time, "
        "s.mean_exec_time, s.max_exec_time, s.rows, s.shared_blks_hit + s.shared_blks_read "
        "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
        f"WHERE d.datname = current_database() ORDER BY s.{SORTS.get(sort, 'total_exec_time')} "
        "DESC LIMIT %s",
        [QUERY_CHARS, limit],
    )
    names = ["queryid", "query", "calls", "total_ms", "mean_ms", "max_ms", "rows", "blocks"]
    return SlowStatements(rows=[dict(zip(names, r, strict=True)) for r in cursor.fetchall()])


def slow_statements(
    *, using: str = "default", sort: str = "total", limit: int = 50
) -> SlowStatements:
    """``statements_read`` on a Django database; a server that cannot answer (the library
    not preloaded) is a ``problem``, not an error."""
    try:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            return statements_read(cursor, sort=sort, limit=limit)
    except DatabaseError as exc:
        text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        return SlowStatements(problem=f"pg_stat_statements cannot be read: {text}")
