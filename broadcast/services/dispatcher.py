"""The dispatcher loop (``dispatch_run``): claims due devices, sends each message when its
device's turn comes (threads do only HTTP; the loop's thread does every database write),
records outcomes in batches; and lease recovery (``dispatch_recover``) for devices whose
dispatcher died mid-send."""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from broadcast.services.dispatch import (
    Claim,
    DispatchStats,
    Outcome,
    dispatch_claim,
    dispatch_recheck,
    dispatch_send,
)
from broadcast.services.record import dispatch_record

logger = logging.getLogger(__name__)


def dispatch_recover(*, now: datetime | None = None) -> int:
    """Devices whose lease ran out (a dispatcher died mid-send): their in-flight message
    goes back to pending (at-least-once), and the device waits a full interval after the
    lease, so a send the dead worker may have made still counts for pacing."""
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
            "UPDATE broadcast_message SET status = 'pending', error = 'dispatcher lost' "
            "WHERE status = 'sending' AND device_id = ANY(%s)",
            [ids],
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
    (threads do only HTTP; this thread does every database write), record in batches."""
    concurrency = concurrency or settings.BROADCAST_SEND_CONCURRENCY
    batch_size = batch_size or settings.BROADCAST_CLAIM_BATCH
    lookahead = settings.BROADCAST_LOOKAHEAD_SECONDS if lookahead is None else lookahead
    stats = DispatchStats()
    deadline = time.monotonic() + seconds
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="broadcast-send")
    sessions: dict[str, requests.Session] = {}
    lock = threading.Lock()
    queue: list[Claim] = []  # claimed, waiting for their slot (sorted by slot)
    inflight: set = set()
    done: list[Outcome] = []
    done_lock = threading.Lock()
    last_claim = last_recover = 0.0
    last_busy = time.monotonic()
    idle_exit = settings.BROADCAST_IDLE_EXIT_SECONDS

    def finished(future):
        with done_lock:
            done.append(future.result())

    try:
        dispatch_recover()
        while True:
            mono = time.monotonic()
            stopping = mono >= deadline or (stop_event is not None and stop_event.is_set())
            if queue or inflight:
                last_busy = mono
            elif mono - last_busy > idle_exit:
                stopping = True  # nothing due for a while: free the worker until beat's next
            with done_lock:
                ready, done[:] = list(done), []
            if ready:  # recorded as soon as they come back, so devices free up quickly
                inflight.difference_update(o.claim.message_id for o in ready)
                dispatch_record(ready, stats)
            if stopping and not queue and not inflight:
                break
            if not stopping and mono - last_recover > 30:
                dispatch_recover()
                last_recover = mono
            outstanding = len(queue) + len(inflight)
            if not stopping and outstanding < batch_size * 4 and mono - last_claim > 0.1:
                claims = dispatch_claim(limit=batch_size, lookahead=lookahead, stats=stats)
                last_claim = mono if len(claims) < batch_size else 0.0
                if claims:
                    last_busy = mono
                    queue.extend(claims)
                    queue.sort(key=lambda c: c.slot)
            now = time.time()
            ready = []
            while queue and queue[0].slot <= now + 0.002:
                ready.append(queue.pop(0))
            for claim in dispatch_recheck(ready, stats):
                inflight.add(claim.message_id)
                pool.submit(dispatch_send, claim, sessions, lock).add_done_callback(finished)
            wait = 0.05
            if queue:
                wait = min(wait, max(0.0, queue[0].slot - time.time()))
            elif not inflight and not stopping:
                wait = 0.1
            time.sleep(wait)
    finally:
        pool.shutdown(wait=True)
        with done_lock:
            leftover, done[:] = list(done), []
        if leftover:
            dispatch_record(leftover, stats)
        for http in sessions.values():
            http.close()
    return stats
