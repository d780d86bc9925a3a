"""Named PostgreSQL advisory locks, taken in one statement in a fixed (sorted) order."""

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection

from core.pipeline import Statement


def lock_key(*parts: object) -> int:
    """A signed 64-bit key for a name made of ``parts``."""
    name = ":".join(str(p) for p in parts)
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def advisory_xact_locks(keys: Iterable[int]) -> None:
    """Hold these locks until the transaction ends. Sorted, so two callers never deadlock."""
    statement = advisory_xact_locks_statement(keys)
    if statement:
        with connection.cursor() as cursor:
            cursor.execute(*statement)


# The transaction's advisory locks in key order (``{}``: the keys, a bigint[]): two
# transactions locking overlapping sets never wait on each other in a cycle.
XACT_LOCKS_SQL = (
    "SELECT count(pg_advisory_xact_lock(k)) FROM "
    "(SELECT k FROM unnest({}::bigint[]) k ORDER BY k) s"
)


def lock_order(keys: Iterable[int]) -> list[int]:
    """The keys, each once, in the order every transaction takes them (``XACT_LOCKS_SQL``
    sorts them again on the server)."""
    return sorted(set(keys))


def advisory_xact_locks_statement(keys: Iterable[int]) -> Statement | None:
    """The statement ``advisory_xact_locks`` runs (None: no keys), to send in a pipeline."""
    ordered = lock_order(keys)
    if not ordered:
        return None
    return (XACT_LOCKS_SQL.format("%s"), [ordered])


@contextmanager
def try_session_lock(key: int) -> Iterator[bool]:
    """Hold a session-level advisory lock for the block, if no one else holds it (yields
    whether it was taken; never waits). It outlives transactions, and a crashed process's
    connection closes, which frees it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        taken = bool(cursor.fetchone()[0])
    try:
        yield taken
    finally:
        if taken:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
