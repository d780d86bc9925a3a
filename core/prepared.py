"""Statements PostgreSQL plans once per connection, sent in ``pipelined`` messages.

A statement sent as text is planned on every call. For a lookup over a partitioned table
with many indexes the planning costs more than the run: the intake's dedupe lookup spent
0.37 of its 0.76 ms in the planner (bench/README.md). A ``Prepared`` statement is
``PREPARE``d once per connection and then run as ``EXECUTE`` with its generic plan
(``plan_cache_mode = force_generic_plan`` for that statement only: with ``auto``
PostgreSQL compares the generic plan's cost, which counts every partition before the
run-time pruning, with the pruned custom plans' and plans every call anyway). Its shape
must be one whose generic plan is good whatever the values: its caller's tests check it.

The ``PREPARE`` goes in the same message as the first ``EXECUTE`` on a connection, inside
a ``DO`` block that prepares only if the session has none of that name: no round trip of
its own, and idempotent, so a message that failed (before or after it) is safe to follow
with the same block. A prepared statement outlives a rollback. The connection counts as
prepared once such a message has come back; Django's replacing a connection (closed,
broken) makes a new psycopg connection, which starts with none, as its server session.

Behind a pooler that hands one client's transactions to different server connections
(PgBouncer's ``pool_mode = transaction``) the session is not the client's: set
``DB_PREPARED_STATEMENTS=0`` there and the statement is sent as text, planned each time.
"""

import weakref
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connections

from core.pipeline import Pending, Sender

# Per psycopg connection, per statement: True once prepared there, or the Pending of the
# DO block that prepares it (prepared if that came back).
_prepared: "weakref.WeakKeyDictionary[Any, dict[str, bool | Pending]]" = weakref.WeakKeyDictionary()


class Prepared:
    """``PREPARE name (types) AS sql``: ``sql`` with ``$1``.. for its parameters."""

    def __init__(self, name: str, types: Sequence[str], sql: str) -> None:
        self.name = name
        self.types = tuple(types)
        self.sql = sql
        prepare = f"PREPARE {name} ({', '.join(self.types)}) AS {sql}".replace("'", "''")
        self._prepare_if_missing = (
            "DO $lb_prepare$ BEGIN IF NOT EXISTS (SELECT FROM pg_prepared_statements "
            f"WHERE name = '{name}') THEN EXECUTE '{prepare}'; END IF; END $lb_prepare$"
        )

    @staticmethod
    def enabled() -> bool:
        return bool(settings.DB_PREPARED_STATEMENTS)

    def send(self, send: Sender, params: Sequence[Any], using: str = "default") -> Pending:
        """Queue its ``EXECUTE`` with ``params`` in ``send``'s message (a transaction's,
        on ``using``), run with its generic plan; the ``PREPARE`` before it if this
        connection may lack it."""
        if len(params) != len(self.types):
            raise ValueError(f"{self.name} takes {len(self.types)} values, not {len(params)}")
        connection = connections[using]
        connection.ensure_connection()
        marks = _prepared.setdefault(connection.connection, {})
        mark = marks.get(self.name)
        if isinstance(mark, Pending) and mark.done():
            marks[self.name] = mark = True
        if mark is not True:
            marks[self.name] = send(self._prepare_if_missing)
        send("SET LOCAL plan_cache_mode = force_generic_plan")
        pending = send(f"EXECUTE {self.name} ({', '.join(['%s'] * len(params))})", params)
        send("SET LOCAL plan_cache_mode TO DEFAULT")
        return pending
