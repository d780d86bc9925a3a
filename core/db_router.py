"""Read replica routing: opt-in per view, the primary for everything else.

``DATABASE_REPLICA_URL`` configures the ``replica`` alias. A view marked ``@use_replica``
(agent pages, GET list endpoints, dashboards, reports) sets a context-local flag for its
duration; while it is set, ``ReplicaRouter`` sends ORM reads to the replica. Everything
else stays on the primary: writes always, reads outside marked views, and reads inside a
transaction on the primary (a ``select_for_update`` or a read-your-write in a service).

The replica is used only while it is healthy: it answers, and it lags the primary by no
more than ``DATABASE_REPLICA_MAX_LAG_SECONDS`` (``pg_last_xact_replay_timestamp()``, 0 when
the standby has replayed all it received; a server that is not a standby reports no lag).
The verdict is cached per process for ``DATABASE_REPLICA_CHECK_SECONDS``. A replica that
fails during a marked view is marked down and the view runs again on the primary (marked
views only read, so running one twice is safe).
"""

import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, OperationalError, connections

logger = logging.getLogger(__name__)

REPLICA = "replica"
F = TypeVar("F", bound=Callable[..., Any])

_reading_replica: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "leadbrain_use_replica", default=False
)
_health_lock = threading.Lock()
_health: dict[str, Any] = {"checked_at": None, "usable": False}

# Lag in seconds; NULL on a server that is not a standby (no lag), 0 when a standby has
# replayed everything it received (an idle primary sends nothing, so the last replayed
# transaction may be old without any lag).
LAG_SQL = (
    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
)


def replica_configured() -> bool:
    return REPLICA in connections.settings


def replica_lag_seconds() -> float | None:
    """The replica's lag now (None: not a standby); raises DatabaseError when it is down."""
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(LAG_SQL)
        value = cursor.fetchone()[0]
    return None if value is None else float(value)


def _check() -> bool:
    try:
        lag = replica_lag_seconds()
    except DatabaseError as exc:
        logger.warning("read replica unreachable, reading from the primary: %s", exc)
        _close_replica()
        return False
    if lag is not None and lag > settings.DATABASE_REPLICA_MAX_LAG_SECONDS:
        logger.warning(
            "read replica %.1fs behind (over %ss), reading from the primary",
            lag,
            settings.DATABASE_REPLICA_MAX_LAG_SECONDS,
        )
        return False
    return True


def _close_replica() -> None:
    try:
        connections[REPLICA].close()
    except DatabaseError:
        logger.debug("closing the replica connection failed", exc_info=True)


def replica_usable() -> bool:
    """Is the replica configured, answering and not lagging? Cached per process."""
    if not replica_configured():
        return False
    now = time.monotonic()
    with _health_lock:
        checked_at = _health["checked_at"]
        max_age = settings.DATABASE_REPLICA_CHECK_SECONDS
        if checked_at is not None and now - checked_at < max_age:
            return bool(_health["usable"])
        usable = _check()
        _health.update(checked_at=time.monotonic(), usable=usable)
        return usable


def replica_mark_down() -> None:
    """Read from the primary until the next check (after a failure during a query)."""
    with _health_lock:
        _health.update(checked_at=time.monotonic(), usable=False)
    _close_replica()


def replica_health_forget() -> None:
    """Check again on the next read (tests; after the replica's settings change)."""
    with _health_lock:
        _health.update(checked_at=None, usable=False)


@contextmanager
def reading_replica(enabled: bool = True) -> Iterator[None]:
    token = _reading_replica.set(enabled)
    try:
        yield
    finally:
        _reading_replica.reset(token)


def use_replica(view: F) -> F:
    """Mark a read-only view (function or method): its ORM reads may go to the replica."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not replica_configured():
            return view(*args, **kwargs)
        try:
            with reading_replica():
                return view(*args, **kwargs)
        except OperationalError:
            if _check():  # the replica answers: the failure was not the replica's
                raise
            logger.warning("read replica failed during %s: again on the primary", view.__name__)
            replica_mark_down()
            return view(*args, **kwargs)

    return cast(F, wrapper)


class ReplicaRouter:
    """Reads of a ``@use_replica`` view go to a healthy replica; all else to the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        if (
            _reading_replica.get()
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block
            and replica_usable()
        ):
            return REPLICA
        return DEFAULT_DB_ALIAS  # not the instance's database: a replica row's relations too

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS  # never the replica, even to save a row read from it

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the same data on both

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS
