"""Small database helpers shared by the apps' raw-SQL hot paths."""

import json
from collections.abc import Iterable, Sequence
from typing import Any


def json_value(value: Any) -> Any:
    """A jsonb column read by raw SQL: Django's psycopg setup hands it back as text."""
    return json.loads(value) if isinstance(value, str) else value


def unnest_columns(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Rows -> one list per column, the parameters of ``unnest(%s::type[], ...)``."""
    return [list(column) for column in zip(*rows, strict=True)]


def delete_unless_used(obj: Any, *, what: str) -> None:
    """Delete ``obj`` in its own transaction, or raise ``ConflictError`` (409, code
    ``in_use``) when protected rows still point at it (a server's lists, a list's outbox)."""
    from django.db import transaction
    from django.db.models.deletion import ProtectedError, RestrictedError

    from core.errors import IN_USE, ConflictError

    try:
        with transaction.atomic():
            obj.delete()
    except (ProtectedError, RestrictedError):
        raise ConflictError(
            f"This {what} is still in use (other records point at it): deactivate it instead.",
            code=IN_USE,
        ) from None


RECHECK_RUNS = 5  # a row stays in a periodic re-check's window for this many runs
RECHECK_COLD_ROWS = 10_000  # with no runs remembered (a new cache): the newest this many


def recheck_floor(name: str, newest: int | None) -> int | None:
    """The id after which a periodic re-check of ``name``'s newest rows looks this run: the
    table's newest id ``RECHECK_RUNS`` runs ago, so a row is looked at by several runs,
    including one that starts after a transaction that took its id early committed it.
    None when the table is empty."""
    from django.core.cache import cache

    if newest is None:
        return None
    key = f"recheck-floor:{name}"
    marks = cache.get(key) or []
    cache.set(key, [*marks, newest][-RECHECK_RUNS:], timeout=None)
    return int(marks[0]) if marks else max(0, newest - RECHECK_COLD_ROWS)


def newest_rows_restamp(table: str, stale_sql: str) -> int:
    """Fire the lead-scope stamp trigger again on ``table``'s newest rows (those written
    since ``RECHECK_RUNS`` runs ago) that match ``stale_sql`` (a condition on alias ``t``,
    ``leads.selectors.lead_scope_stale_sql``); returns the rows fixed. For an app's own
    table: the caller names it.

    The triggers stamp a row from its lead when it is written and follow the lead when it
    moves; a row inserted while its lead's reroute is still uncommitted is stamped from the
    lead as it was, and the reroute's follow-up cannot see that row yet. The manager's lists
    probe the lead on every page they show, so such a row is never shown to a workspace its
    lead has left; this re-check (each minute, from beat) shows it to the one it went to."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(id) FROM {table}")
        after = recheck_floor(table, cursor.fetchone()[0])
        if after is None:
            return 0
        # Setting lead_id to itself fires the stamp trigger, which reads the lead again.
        cursor.execute(
            f"UPDATE {table} t SET lead_id = t.lead_id WHERE t.id > %s AND {stale_sql}",
            [after],
        )
        return int(cursor.rowcount)
