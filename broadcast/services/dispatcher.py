"""The dispatcher loop (``dispatch_run``): claims due devices, sends each message when its
device's turn comes (threads do only HTTP; the loop's thread does every database write),
records outcomes in batches; and lease recovery (``dispatch_recover``) for devices whose
dispatcher died mid-send."""

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.utils import InterfaceError, OperationalError
from django.utils import timezone

from broadcast.models import Message
from broadcast.services.dispatch import (
    Claim,
    DispatchStats,
    Outcome,
    dispatch_claim,
    dispatch_recheck,
    dispatch_release,
    dispatch_send,
)
from broadcast.services.record import dispatch_record

logger = logging.getLogger(__name__)

# A lost or broken connection (a killed backend, a failover): reconnect and go on.
DB_ERRORS = (OperationalError, InterfaceError)


def dispatch_recover(*, now: datetime | None = None) -> int:
    """Devices whose lease ran out (a dispatcher died mid-send): their in-flight message
    goes back to pending, and the device waits a full interval after the lease, so a send
    the dead worker may have made still counts for pacing. A message whose request had
    left (``attempted_at``) is looked up on the gateway before it is sent again
    (``verify``): sent at most once, and, once the gateway answers, at least once."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM broadcast_device WHERE lease_until < %s FOR UPDATE SKIP LOCKED",
            [now],
        )
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return 0
        cursor.execute(
            "UPDATE broadcast_message SET status = %s, error = CASE WHEN attempted_at "
            "IS NULL THEN 'dispatcher lost' ELSE 'dispatcher lost mid-send: checked on the "
            "gateway before a resend' END "
            "WHERE status = %s AND device_id = ANY(%s)",
            [Message.Status.PENDING, Message.Status.SENDING, ids],
        )
        cursor.execute(
            "UPDATE broadcast_device SET next_send_at = GREATEST(next_send_at, lease_until + "
            "make_interval(secs => min_interval_seconds)), lease_until = NULL "
            "WHERE id = ANY(%s)",
            [ids],
        )
    logger.warning("recovered %d device leases", len(ids))
    return len(ids)


def dispatch_run(
    *,
    seconds: float,
    concurrency: int | None = None,
    batch_size: int | None = None,
    lookahead: float | None = None,
    stop_event: threading.Event | None = None,
) -> DispatchStats:
    """Dispatch for ``seconds``: claim due devices, send when each device's turn comes
    (threads do only HTTP; this thread does every database write), record in batches.

    A lost database connection (killed backend, failover) does not end the run: the round
    is given up, the connection closed (Django opens a new one on the next query) and the
    loop goes on after a short backoff. What it held is kept: outcomes not yet recorded are
    recorded on the new connection, and claims waiting for their turn keep their leases."""
    loop = _Loop(
        concurrency=concurrency or settings.BROADCAST_SEND_CONCURRENCY,
        batch_size=batch_size or settings.BROADCAST_CLAIM_BATCH,
        lookahead=settings.BROADCAST_LOOKAHEAD_SECONDS if lookahead is None else lookahead,
    )
    deadline = time.monotonic() + seconds
    loop.last_busy = time.monotonic()
    try:
        while True:
            stopping = time.monotonic() >= deadline or (
                stop_event is not None and stop_event.is_set()
            )
            try:
                if loop.round(stopping):
                    break
            except DB_ERRORS as exc:
                pause = loop.connection_lost(exc)
                if stopping and loop.db_errors >= 3:
                    break  # the database stays away: leases run out, recovery gives back
                time.sleep(pause)
                continue
            time.sleep(loop.wait(stopping))
    finally:
        loop.close()
    return loop.stats


class _Loop:
    """The state of one ``dispatch_run``: claims waiting for their slot (sorted by slot),
    sends in flight on the pool's threads, and their outcomes as they come back."""

    def __init__(self, *, concurrency: int, batch_size: int, lookahead: float) -> None:
        self.batch_size, self.lookahead = batch_size, lookahead
        self.recovered_once = False
        self.last_busy = 0.0
        self.db_errors = 0  # consecutive rounds lost to the database connection
        self.stats = DispatchStats()
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="broadcast-send")
        self.sessions: dict[str, requests.Session] = {}  # one per gateway URL
        self.sessions_lock = threading.Lock()
        self.queue: list[Claim] = []
        self.inflight: set[int] = set()  # message ids
        self.done: list[Outcome] = []
        self.done_lock = threading.Lock()
        self.last_claim = self.last_recover = 0.0

    def busy(self) -> bool:
        return bool(self.queue or self.inflight)

    def round(self, stopping: bool) -> bool:
        """One turn of the loop; True when the run is over."""
        mono = time.monotonic()
        if not self.recovered_once:
            dispatch_recover()
            self.recovered_once, self.last_recover = True, mono
        if self.busy():
            self.last_busy = mono
        elif mono - self.last_busy > settings.BROADCAST_IDLE_EXIT_SECONDS:
            stopping = True  # nothing due for a while: free the worker until beat's next
        self.record_done()
        if stopping and not self.busy():
            return True
        if not stopping:
            self.recover_now_and_then(mono)
            if self.claim_more(mono):
                self.last_busy = mono
        self.send_due()
        self.db_errors = 0
        return False

    def connection_lost(self, exc: Exception) -> float:
        """The database connection broke mid-round: drop it (the next query opens a new
        one) and say how long to wait before the next round (0.1 s, doubling to 5 s)."""
        self.db_errors += 1
        logger.warning(
            "dispatcher lost its database connection (%s, %d in a row): reconnecting",
            type(exc).__name__,
            self.db_errors,
        )
        connection.close()
        return min(5.0, 0.1 * 2.0 ** (self.db_errors - 1))

    def _finished(self, future: Future[Outcome]) -> None:  # on a pool thread
        with self.done_lock:
            self.done.append(future.result())

    def _take_done(self) -> list[Outcome]:
        with self.done_lock:
            ready, self.done[:] = list(self.done), []
        return ready

    def record_done(self) -> None:
        """Record the sends that came back, as soon as they do, so devices free up quickly.
        If the database fails, they are kept for the next round."""
        ready = self._take_done()
        if not ready:
            return
        try:
            dispatch_record(ready, self.stats)
        except BaseException:
            with self.done_lock:
                self.done[:0] = ready
            raise
        self.inflight.difference_update(o.claim.message_id for o in ready)

    def recover_now_and_then(self, mono: float) -> None:
        if mono - self.last_recover > 30:
            dispatch_recover()
            self.last_recover = mono

    def claim_more(self, mono: float) -> bool:
        """Claim a batch while fewer than four are outstanding; after a short batch (nothing
        more due yet) wait 0.1 s before the next. True if anything was claimed."""
        outstanding = len(self.queue) + len(self.inflight)
        if outstanding >= self.batch_size * 4 or mono - self.last_claim <= 0.1:
            return False
        claims = dispatch_claim(limit=self.batch_size, lookahead=self.lookahead, stats=self.stats)
        self.last_claim = mono if len(claims) < self.batch_size else 0.0
        if not claims:
            return False
        self.queue.extend(claims)
        self.queue.sort(key=lambda c: c.slot)
        return True

    def send_due(self) -> None:
        """Hand the claims whose slot has come to the pool, after a last consent check."""
        now = time.time()
        ready = []
        while self.queue and self.queue[0].slot <= now + 0.002:
            ready.append(self.queue.pop(0))
        try:
            good = dispatch_recheck(ready, self.stats)
        except BaseException:  # kept (still leased) for the next round
            self.queue[:0] = ready
            raise
        for claim in good:
            self.inflight.add(claim.message_id)
            future = self.pool.submit(dispatch_send, claim, self.sessions, self.sessions_lock)
            future.add_done_callback(self._finished)

    def wait(self, stopping: bool) -> float:
        """How long to sleep: until the next slot, at most 50 ms (100 ms when idle)."""
        wait = 0.05
        if self.queue:
            wait = min(wait, max(0.0, self.queue[0].slot - time.time()))
        elif not self.inflight and not stopping:
            wait = 0.1
        return wait

    def close(self) -> None:
        """Wait for the sends in flight, record them (a few tries if the database connection
        is lost; after that their leases run out and ``dispatch_recover`` gives them back),
        close the gateway sessions."""
        self.pool.shutdown(wait=True)
        for http in self.sessions.values():
            http.close()
        for _attempt in range(3):
            try:
                self.record_done()
                if self.queue:  # claimed, never sent: give them back now, not at lease end
                    dispatch_release(self.queue)
                    self.queue = []
                return
            except DB_ERRORS as exc:
                time.sleep(self.connection_lost(exc))
        logger.error(
            "dispatcher ended with %d sends unrecorded and %d claims held: their leases "
            "run out and dispatch_recover gives them back",
            len(self.done),
            len(self.queue),
        )
