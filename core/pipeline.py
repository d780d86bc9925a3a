"""Statements sent to PostgreSQL together and read afterwards: one round trip, not one each.

``with pipelined() as send:`` queues each ``send(sql, params)`` on Django's connection
(psycopg's pipeline mode, through Django's cursors, so execute wrappers and the query log
still see every statement); leaving the block sends them all, waits once for every
result and raises the first error. Each statement still runs on its own, in order, with its
own snapshot: a lock taken by one is held when the next one reads. Where libpq has no
pipeline mode the statements simply run one by one, with the same results.

``with pipelined_transaction() as tx:`` is a transaction whose BEGIN goes with the first
``pipelined(tx)`` block's statements and whose COMMIT with those of a
``pipelined(tx, commit=True)`` block: a transaction that reads, then writes, waits on
PostgreSQL twice. Under Django's ``atomic`` it would wait four times: psycopg waits for a
BEGIN on its own (to learn the transaction's state) and sends COMMIT alone.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import psycopg
from django.db import connections, transaction

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


class Transaction:
    """The transaction of a ``pipelined_transaction`` block. ``own``: its BEGIN and COMMIT
    are sent by ``pipelined``; otherwise the block runs in Django's ``atomic`` (a savepoint
    of the caller's transaction)."""

    def __init__(self, using: str, *, own: bool) -> None:
        self.using = using
        self.own = own
        self.begun = False
        self.committed = False
        self._after_commit: list[Callable[[], Any]] = []

    def on_commit(self, callback: Callable[[], Any]) -> None:
        """``callback`` once the transaction has committed (never if it rolls back)."""
        if self.own:
            self._after_commit.append(callback)
        else:
            transaction.on_commit(callback, using=self.using)


@contextmanager
def pipelined(
    using_or_transaction: "str | Transaction" = "default", *, commit: bool = False
) -> Iterator[Sender]:
    """Statements sent together (see the module). Given a ``Transaction`` of its own, the
    block's statements go after its BEGIN if none was sent yet, and with ``commit`` its
    COMMIT goes after them, in the same round trip."""
    tx = using_or_transaction if isinstance(using_or_transaction, Transaction) else None
    using = tx.using if tx else str(using_or_transaction)
    connection = connections[using]
    connection.ensure_connection()
    mode = connection.connection.pipeline() if psycopg.Pipeline.is_supported() else nullcontext()
    sender = Sender(using)
    own = tx is not None and tx.own
    # A failed statement raises when the pipeline ends, outside Django's cursor: as
    # Django's own error class, like any other statement's.
    with connection.wrap_database_errors, mode:
        if own and not tx.begun:  # type: ignore[union-attr]
            sender("BEGIN").done()
            tx.begun = True  # type: ignore[union-attr]
        yield sender
        if own and commit:
            sender("COMMIT").done()
    if own and commit:
        tx.committed = True  # type: ignore[union-attr]


@contextmanager
def pipelined_transaction(using: str = "default") -> Iterator[Transaction]:
    """A transaction for ``pipelined`` blocks (see the module). Inside an atomic block, or
    on a connection that Django does not keep in autocommit, it is Django's ``atomic``.
    Otherwise Django sees no transaction: the block must not open an ``atomic`` of its own
    (psycopg refuses it while the server's transaction is open) and registers its
    after-commit work with ``Transaction.on_commit``. If the block raises, the transaction
    is rolled back; if it ends without a ``commit`` block, COMMIT is sent on its own (after
    a COPY, which a pipeline cannot carry)."""
    connection = connections[using]
    connection.ensure_connection()
    if connection.in_atomic_block or not connection.get_autocommit():
        with transaction.atomic(using=using):
            yield Transaction(using, own=False)
        return
    tx = Transaction(using, own=True)
    try:
        yield tx
        if tx.begun and not tx.committed:
            with connection.cursor() as cursor:
                cursor.execute("COMMIT")
            tx.committed = True
    except BaseException:
        if tx.begun and not tx.committed:
            _rollback(connection)
        raise
    for callback in tx._after_commit:
        callback()


def _rollback(connection: Any) -> None:
    """End a failed transaction of our own; a connection that cannot is closed (Django
    opens another), never handed on with the transaction open."""
    try:
        connection.connection.rollback()  # psycopg: nothing sent if none is open
    except Exception:  # noqa: BLE001 (the block's own exception is the one to raise)
        connection.close()
