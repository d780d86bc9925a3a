"""Statements sent to PostgreSQL together and read afterwards: one round trip, not one each.

``with pipelined() as send:`` queues each ``send(sql, params)``; leaving the block sends
them all in one message (the simple query protocol: the statements joined by ``; ``, each
one's values quoted into its text, as Django's cursors do, by ``core.sql_literals`` or
else by psycopg), waits once for every result and raises the first error as Django's error
class. It goes through one Django
cursor, so the execute wrappers and the query log see the whole message as one query. Each
statement still runs on its own, in order, with its own snapshot: a lock taken by one is
held when the next one reads; after an error the rest do not run. Outside a transaction
PostgreSQL runs one message as one implicit transaction.

psycopg's pipeline mode did the same in one round trip too, but cost up to twice as much of
the web process's CPU: a cursor, a send and a poll per statement (bench/README.md).

``with pipelined_transaction() as tx:`` is a transaction whose BEGIN goes with the first
``pipelined(tx)`` block's statements and whose COMMIT with those of a
``pipelined(tx, commit=True)`` block: a transaction that reads, then writes, waits on
PostgreSQL twice. Under Django's ``atomic`` it would wait four times: psycopg waits for a
BEGIN on its own (to learn the transaction's state) and sends COMMIT alone.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connections, transaction

from core.sql_literals import Unsupported, statement_text

Statement = tuple[str, Sequence[Any]]


class Pending:
    """A sent statement's rows, readable once its block has ended."""

    def __init__(self) -> None:
        self._rows: list[tuple[Any, ...]] | None = None

    def done(self) -> bool:
        """Whether its message came back without an error."""
        return self._rows is not None

    def rows(self) -> list[tuple[Any, ...]]:
        if self._rows is None:
            raise RuntimeError("a pipelined statement's rows are read after its block")
        return self._rows


class Sender:
    def __init__(self) -> None:
        self.queued: list[tuple[str, Sequence[Any], Pending]] = []

    def __call__(self, sql: str, params: Sequence[Any] = ()) -> Pending:
        """Queue ``sql`` with its ``params`` (``%s`` placeholders, ``%%`` for a literal
        ``%``, as for any Django cursor). One statement, without a ``--`` comment (it would
        swallow the next one in the message)."""
        pending = Pending()
        self.queued.append((sql, params, pending))
        return pending


def _text(raw: Any, sql: str, params: Sequence[Any], standard_strings: bool) -> str:
    """A statement with its values written in: by ``core.sql_literals`` where it can, else
    by psycopg's cursor (``raw``)."""
    try:
        return statement_text(sql, params, standard_strings)
    except Unsupported:
        return str(raw.mogrify(sql, params))


def _send(using: str, queued: list[tuple[str, Sequence[Any], Pending]]) -> None:
    if not queued:
        return
    with connections[using].cursor() as cursor:
        raw = cursor.cursor  # psycopg's client-side binding cursor, as Django made it
        standard = raw.connection.info.parameter_status("standard_conforming_strings") == "on"
        cursor.execute("; ".join(_text(raw, sql, params, standard) for sql, params, _ in queued))
        for index, (_, _, pending) in enumerate(queued):
            pending._rows = list(raw.fetchall()) if raw.description is not None else []
            if index < len(queued) - 1:
                raw.nextset()


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
    COMMIT goes after them, in the same message."""
    given = using_or_transaction if isinstance(using_or_transaction, Transaction) else None
    using = given.using if given else str(using_or_transaction)
    own = given if given is not None and given.own else None  # BEGIN and COMMIT are ours
    sender = Sender()
    if own is not None and not own.begun:
        sender("BEGIN")
    yield sender
    if own is not None:
        if commit:
            sender("COMMIT")
        own.begun = True  # from here on, a failed message is rolled back
    _send(using, sender.queued)
    if own is not None and commit:
        own.committed = True


@contextmanager
def pipelined_transaction(using: str = "default") -> Iterator[Transaction]:
    """A transaction for ``pipelined`` blocks (see the module). Inside an atomic block, or
    on a connection that Django does not keep in autocommit, it is Django's ``atomic``.
    Otherwise Django sees no transaction: the block must not open an ``atomic`` of its own
    (psycopg refuses it while the server's transaction is open) and registers its
    after-commit work with ``Transaction.on_commit``. If the block raises, the transaction
    is rolled back; if it ends without a ``commit`` block, COMMIT is sent on its own (after
    a COPY, which cannot share a message with other statements)."""
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
