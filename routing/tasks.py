import logging
import os
import socket
import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from routing import services

logger = logging.getLogger(__name__)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# Routes for up to 50 s (route_until_empty), after the fast-path batch.
@shared_task(name="routing.tasks.route_pending_task", soft_time_limit=110, time_limit=140)
def route_pending_task(lead_ids: list[int] | None = None) -> int:
    """Route the given leads (fast path after intake), then whatever else is pending."""
    routed = 0
    if lead_ids:
        routed += services.route_pending(
            worker_id=_worker_id(), lead_ids=lead_ids, batch_size=len(lead_ids)
        ).claimed
    return routed + services.route_until_empty(worker_id=_worker_id(), seconds=50)


@shared_task(name="routing.tasks.retry_drain_task")
def retry_drain_task() -> int:
    return services.retry_drain(worker_id=_worker_id())


WAKE_KEY = "routing:wake"
# Held by the one woken task that stays (route_woken_task); other woken tasks do one pass.
RUNNER_KEY = "routing:runner"
# Intake's wake and the staying task hold the wake key this long: a task sent, queued
# behind a busy worker or running keeps intake from sending another; one that dies frees
# the wake within this (the per-minute sweeper routes meanwhile).
WAKE_HOLD_SECONDS = 30.0
# How long the woken task runs at most (then it leaves, and the next lead wakes another).
WOKEN_BUDGET_SECONDS = 10.0  # short: on a worker shared with other queues, a slot cycles


@shared_task(name="routing.tasks.route_woken_task", soft_time_limit=110, time_limit=140)
def route_woken_task() -> int:
    """Route everything pending; then, if it found work and no other woken task is staying,
    stay: route what has arrived (at once after a full batch, ``ROUTING_PASS_GAP_SECONDS``
    after the start of a pass that found fewer, a wake window after one that found none),
    until nothing has come for
    ``ROUTING_LINGER_SECONDS`` (or the budget is spent). A task that finds nothing leaves
    at once (late wakes queued behind a staying task cost a claim each, not a linger).

    While it stays it holds the wake key, so intake sends no more tasks: under steady
    intake one task routes everything, in batches of a window's leads, instead of a task,
    a claim and an empty claim per window. Leaving, it gives the key back, waits half a
    window (a web process that found the key taken does not ask again sooner) and makes a
    last pass: a lead committed after that pass finds no key and wakes a new task. A task woken
    while another stays does one pass and leaves (it never queues behind the staying one
    for long)."""
    window = settings.ROUTING_WAKE_SECONDS
    hold = WAKE_HOLD_SECONDS
    token = f"{_worker_id()}:{time.monotonic()}"
    if not cache.add(RUNNER_KEY, token, timeout=hold):
        return services.route_until_empty(worker_id=_worker_id(), seconds=WOKEN_BUDGET_SECONDS)
    deadline = time.monotonic() + WOKEN_BUDGET_SECONDS
    routed = 0
    idle_since: float | None = None
    try:
        while time.monotonic() < deadline:
            # Renewed every batch: a long backlog must not let the keys lapse.
            cache.set_many({RUNNER_KEY: token, WAKE_KEY: 1}, timeout=hold)
            started = time.monotonic()
            claimed = services.route_pending(worker_id=_worker_id()).claimed
            routed += claimed
            if 0 < claimed < settings.ROUTING_BATCH_SIZE:
                # A partial batch: the next pass starts a pass gap after this one started,
                # so a trickle of leads is routed a gap's worth at a time, not a few per pass.
                time.sleep(max(0.0, started + settings.ROUTING_PASS_GAP_SECONDS - time.monotonic()))
            if claimed:
                # A full batch, or more may have come while this one was routed: look
                # again (after the gap for a partial batch; a pass that finds nothing sleeps
                # a window), so a lead waits about one pass or gap, not a linger.
                idle_since = None
                continue
            if not routed:
                break  # woken for nothing (a late wake): leave at once, never linger
            now = time.monotonic()
            if idle_since is None:
                idle_since = now
            if now - idle_since >= settings.ROUTING_LINGER_SECONDS:
                break
            time.sleep(window)
    finally:
        cache.delete_many([WAKE_KEY, RUNNER_KEY])
    # A web process that found the key taken asks again only half a window later
    # (routing_wake): the last pass starts after that, so it also routes what such a
    # process committed, without asking, just before the key was freed.
    time.sleep(window / 2)
    return routed + services.route_until_empty(worker_id=_worker_id(), seconds=10)


_last_wake = 0.0  # when this process last sent a task
_last_taken = -1e9  # when this process last found the wake key taken


def routing_wake() -> None:
    """Receiver side of ``leads_ingested``: one routing task per wake window
    (``ROUTING_WAKE_SECONDS``), whatever the intake rate, so the broker carries work, not
    a message per lead. The task starts when its window is over, so it also routes every
    lead committed during the window. The key stays taken until the task leaves (it gives
    it back before its last pass), so a task queued behind a busy worker never has company
    sent after it; a lead committed while the key is taken is routed by that task.

    A process that sent the task less than half a window ago does not even ask Redis (that
    task has not started yet), nor does one that found the key taken less than half a
    window ago: the task holding it routes what was committed meanwhile, since a leaving
    task waits that long after freeing the key before its last pass
    (``route_woken_task``). Under steady intake a process asks Redis about twice a window,
    not once per batch."""
    global _last_wake, _last_taken
    window = settings.ROUTING_WAKE_SECONDS
    now = time.monotonic()  # before asking: the key was taken no earlier than this
    if now - _last_wake < window / 2 or now - _last_taken < window / 2:
        return
    if cache.add(WAKE_KEY, 1, timeout=WAKE_HOLD_SECONDS):
        # Raises when the broker is down: the signal's sender logs it and says so (the
        # leads wait in their table and the per-minute sweeper routes them).
        route_woken_task.apply_async(countdown=window)
        _last_wake = now
    else:
        _last_taken = now


@shared_task(name="routing.tasks.routinglog_lead_scope_recheck_task")
def routinglog_lead_scope_recheck_task() -> int:
    """Each minute: routing log rows stamped from a lead that was moving meanwhile, again."""
    return services.routinglog_lead_scope_recheck()
