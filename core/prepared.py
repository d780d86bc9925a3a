"""Statements PostgreSQL plans once per connection, sent in ``pipelined`` messages.

A statement sent as text is planned on every call. For a lookup over a partitioned table
with many indexes the planning costs more than the run: the intake's dedupe lookup spent
0.51 of its 0.55 ms in the planner (bench/README.md). A ``Prepared`` statement is
``PREPARE``d once per connection and then run as ``EXECUTE``; inside ``generic_plans``
with its generic plan (``plan_cache_mode = force_generic_plan`` for those statements
only: with ``auto`` PostgreSQL compares the generic plan's cost, which counts every
partition before the run-time pruning and an array of unknown length as 10 values, with
the custom plans', and plans every call anyway). Its shape must be one whose generic plan
is good whatever the values: its caller's tests check it.

The ``PREPARE`` goes in the same message as the first ``EXECUTE`` on a connection, inside
a ``DO`` block that drops a statement of that name first if the session has one: no round
trip of its own, and idempotent, so a message that failed (before or after it) is safe to
follow with the same block. A prepared statement outlives a rollback. The connection
counts as prepared once such a message has come back, and until a message with its
``EXECUTE`` fails (then the next one prepares again: had something dropped it on the
server, a pooler's ``DISCARD ALL`` say, one request fails, not every one). Django's
replacing a connection (closed, broken) makes a new psycopg connection, which starts with
none, as its server session.

A generic plan is made for the tables as they are at its first run and kept until
PostgreSQL invalidates it (a table's DDL, its ANALYZE). A partition that was empty then
is read by a sequential scan, and a partition fills long before autovacuum analyzes it
(a new month's at midnight; a bench without autovacuum). So a connection prepares the
statement again once its plan is ``REPLAN_SECONDS`` old: a plan never lags the tables by
more than that, at one planning per connection per interval instead of one per call.

Behind a pooler that hands one client's transactions to different server connections
(PgBouncer's ``pool_mode = transaction``) the session is not the client's: set
``DB_PREPARED_STATEMENTS=0`` there and the statement is sent as text, planned each time.
"""

import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connections

from core.pipeline import Pending, Sender

REPLAN_SECONDS = 10.0


class _Mark:
    """A statement on a connection: the DO block that last prepared it (prepared if it came
    back), when it was sent (time.monotonic()), and its last EXECUTE."""

    def __init__(self, prepare: Pending, at: float) -> None:
        self.prepare = prepare
        self.at = at
        self.executed: Pending | None = None

    def trusted(self, now: float) -> bool:
        """Whether the next EXECUTE may go without the PREPARE: not once the last EXECUTE's
        message failed (whatever failed; a pooler's ``DISCARD ALL`` or a ``DEALLOCATE ALL``
        would leave every later one failing), nor once the plan is old."""
        return (
            self.prepare.done()
            and (self.executed is None or self.executed.done())
            and now - self.at < REPLAN_SECONDS
        )


# Per psycopg connection, per statement name.
_prepared: "weakref.WeakKeyDictionary[Any, dict[str, _Mark]]" = weakref.WeakKeyDictionary()


class Prepared:
    """``PREPARE name (types) AS sql``: ``sql`` with ``$1``.. for its parameters."""

    def __init__(self, name: str, types: Sequence[str], sql: str) -> None:
        self.name = name
        self.types = tuple(types)
        self.sql = sql
        types = f" ({', '.join(self.types)})" if self.types else ""
        prepare = f"PREPARE {name}{types} AS {sql}".replace("'", "''")
        self._prepare = (
            "DO $lb_prepare$ BEGIN IF EXISTS (SELECT FROM pg_prepared_statements "
            f"WHERE name = '{name}') THEN DEALLOCATE {name}; END IF; "
            f"EXECUTE '{prepare}'; END $lb_prepare$"
        ).replace("%", "%%")  # sent as a statement without values: psycopg reads %% as %

    @staticmethod
    def enabled() -> bool:
        return bool(settings.DB_PREPARED_STATEMENTS)

    def send(self, send: Sender, params: Sequence[Any], using: str = "default") -> Pending:
        """Queue its ``EXECUTE`` with ``params`` in ``send``'s message (a transaction's,
        on ``using``; inside ``generic_plans`` to run its generic plan); the ``PREPARE``
        before it if this connection may lack it or its plan is ``REPLAN_SECONDS`` old."""
        if len(params) != len(self.types):
            raise ValueError(f"{self.name} takes {len(self.types)} values, not {len(params)}")
        connection = connections[using]
        connection.ensure_connection()
        marks = _prepared.setdefault(connection.connection, {})
        mark = marks.get(self.name)
        now = time.monotonic()
        if mark is None or not mark.trusted(now):
            marks[self.name] = mark = _Mark(send(self._prepare), now)
        values = f" ({', '.join(['%s'] * len(params))})" if params else ""
        mark.executed = send(f"EXECUTE {self.name}{values}", params)
        return mark.executed


@contextmanager
def generic_plans(send: Sender) -> Iterator[None]:
    """The prepared statements queued in the block run their generic plans; the statements
    after it (a trigger's among them) plan as the server is set to (its default: a
    ``plan_cache_mode`` the caller's transaction had set is not restored)."""
    send("SET LOCAL plan_cache_mode = force_generic_plan")
    yield
    send("SET LOCAL plan_cache_mode TO DEFAULT")
