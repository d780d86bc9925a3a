"""Named PostgreSQL advisory locks, taken in one statement in a fixed (sorted) order."""

import hashlib
from collections.abc import Iterable

from django.db import connection


def lock_key(*parts: object) -> int:
    """A signed 64-bit key for a name made of ``parts``."""
    name = ":".join(str(p) for p in parts)
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def advisory_xact_locks(keys: Iterable[int]) -> None:
    """Hold these locks until the transaction ends. Sorted, so two callers never deadlock."""
    ordered = sorted(set(keys))
    if not ordered:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM "
            "(SELECT k FROM unnest(%s::bigint[]) k ORDER BY k) s",
            [ordered],
        )
