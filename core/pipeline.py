"""Statements sent to PostgreSQL together and read afterwards: one round trip, not one each.

``with pipelined() as send:`` queues each ``send(sql, params)`` on Django's connection
(psycopg's pipeline mode, through Django's cursors, so execute wrappers and the query log
still see every statement); leaving the block sends them all, waits once for every
result and raises the first error. Each statement still runs on its own, in order, with its
own snapshot: a lock taken by one is held when the next one reads. Where libpq has no
pipeline mode the statements simply run one by one, with the same results.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import psycopg
from django.db import connections

Statement = tuple[str, Sequence[Any]]


class Pending:
    """A sent statement's rows, readable once its pipeline has ended."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def rows(self) -> list[tuple[Any, ...]]:
        try:
            return list(self._cursor.fetchall())
        finally:
            self._cursor.close()

    def done(self) -> None:
        """Nothing to read (a write, or a lock): let go of the cursor."""
        self._cursor.close()


class Sender:
    def __init__(self, using: str) -> None:
        self._connection = connections[using]

    def __call__(
        self, sql: str, params: Sequence[Any] = (), *, server_binding: bool = False
    ) -> Pending:
        """``server_binding``: the values go apart from the text, as the protocol's
        parameters, instead of being quoted into it by psycopg (Django's way): cheaper for a
        long list of values. The statement must type-check with them (a str is sent as
        "unknown": PostgreSQL gives it the column's type)."""
        if server_binding:
            connection = self._connection
            connection.validate_thread_sharing()
            raw: Any = psycopg.Cursor(connection.connection)  # what Django wraps
            # Wrapped as Django wraps its own (the query log, execute wrappers).
            make = (
                connection.make_debug_cursor
                if connection.queries_logged
                else connection.make_cursor
            )
            cursor = make(raw)
        else:
            cursor = self._connection.cursor()
        cursor.execute(sql, params)
        return Pending(cursor)


@contextmanager
def pipelined(using: str = "default") -> Iterator[Sender]:
    connection = connections[using]
    connection.ensure_connection()
    mode = connection.connection.pipeline() if psycopg.Pipeline.is_supported() else nullcontext()
    sender = Sender(using)
    # A failed statement raises when the pipeline ends, outside Django's cursor: as
    # Django's own error class, like any other statement's.
    with connection.wrap_database_errors, mode:
        yield sender
