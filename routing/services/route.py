"""Routing a batch: claim pending leads, decide set-wise, write every decision with its reason.

Two workers never route the same lead: a batch is one transaction that claims its leads
by row-locking them (``leads_lock_for_routing``, ``FOR UPDATE SKIP LOCKED``), decides,
and writes every decision before its row locks are released. Everything a decision changes
is written set-wise (``routing.services.write``): the leads (by the leads app's service),
the routing log, the history, the VICIdial pushes and the sequence enrollments.

A pass sends its statements in a few messages, whatever its size: the claim with the
rules' version (and the batch's savepoint); the rules' and counters' locks with the
partner sales (when a matched rule has any); the writes (leads, counters, rotations,
routing log, history, retry items); then the deliveries' own statements, if any. BEGIN
and COMMIT go on their own (Django's ``atomic``: the deliveries may open savepoints).
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core import slo
from core.pipeline import Pending, Sender, Statement, pipelined
from leads.services import leads_lock_for_routing, routing_leads
from routing.models import RetryItem, RoutingLog
from routing.services.decide import Decision, decide
from routing.services.retry import retry_schedule
from routing.services.rules import RULES_VERSION_SQL, active_rules
from routing.services.write import write_decisions

logger = logging.getLogger(__name__)

# Leads waiting in the retry queue are the retry drain's, not the sweeper's.
IN_RETRY_QUEUE = "SELECT 1 FROM routing_retryitem r WHERE r.lead_id = l.id"

NOT_CONTACTABLE = "the phone or email is on the do-not-contact list"


@dataclass
class RouteStats:
    claimed: int = 0
    routed: int = 0
    unrouted: int = 0
    expired: int = 0
    suppressed: int = 0
    failed: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)


def _lock_pending(send: Sender, *, batch_size: int, lead_ids: list[int] | None) -> Pending:
    """Queue the claim of up to ``batch_size`` pending leads (or the given ones) not waiting
    in the retry queue, row-locked for the caller's transaction."""
    return leads_lock_for_routing(
        send, batch_size=batch_size, lead_ids=lead_ids, unless_exists=IN_RETRY_QUEUE
    )


def _count(stats: RouteStats, decisions: list[Decision]) -> None:
    for dec in decisions:
        stats.outcomes[dec.lead["id"]] = dec.outcome
        if dec.outcome == RoutingLog.Outcome.ROUTED:
            stats.routed += 1
        elif dec.outcome == RoutingLog.Outcome.EXPIRED:
            stats.expired += 1
        elif dec.outcome == RoutingLog.Outcome.SUPPRESSED:
            stats.suppressed += 1
        else:
            stats.unrouted += 1


def _decide_reachable(
    leads: list[dict[str, Any]], unreachable: set[int], now: datetime, version: list[Any]
) -> tuple[list[Decision], list[Statement]]:
    """Decide the leads that may be contacted (``version``: the rules' version's rows);
    the others (suppressed since intake) are never routed. With the statements that write
    the counters and rotations back."""
    reachable = [lead for lead in leads if lead["id"] not in unreachable]
    decisions, saves = decide(reachable, active_rules(version), now)
    decisions += [
        Decision(lead, RoutingLog.Outcome.SUPPRESSED, NOT_CONTACTABLE)
        for lead in leads
        if lead["id"] in unreachable
    ]
    return decisions, saves


# Set right after the claim, in its message (no round trip of its own; COMMIT releases it):
# a failed batch rolls back to it and goes to the retry queue while its leads stay locked.
BATCH_SAVEPOINT = "lb_routing_batch"


def route_pending(
    *, worker_id: str, batch_size: int | None = None, lead_ids: list[int] | None = None
) -> RouteStats:
    """Claim a batch and route it, in one transaction. A failure after the claim rolls the
    batch back to its claim and sends its leads to the retry queue in the same transaction:
    no other worker takes them before their retry items are written."""
    batch_size = batch_size or settings.ROUTING_BATCH_SIZE
    with transaction.atomic():
        now = timezone.now()
        with pipelined() as send:
            version = send(RULES_VERSION_SQL)
            locked = _lock_pending(send, batch_size=batch_size, lead_ids=lead_ids)
            send(f"SAVEPOINT {BATCH_SAVEPOINT}")
        claimed, unreachable = routing_leads(locked)
        stats = RouteStats(claimed=len(claimed))
        if not claimed:
            return stats
        try:
            started = time.perf_counter()
            decisions, saves = _decide_reachable(claimed, unreachable, now, version.rows())
            write_decisions(decisions, saves, worker_id=worker_id, now=now, started=started)
        except Exception as exc:  # noqa: BLE001 - any failure of a batch goes to the retry queue
            logger.exception("routing batch failed; %s leads to the retry queue", len(claimed))
            _batch_undo()
            stats.failed = retry_schedule(
                lead_ids=[lead["id"] for lead in claimed], error=repr(exc)
            )
            failed = True
        else:
            failed = False
    if failed:
        slo.record(
            counts=[
                ("routing_claimed_total", len(claimed), ""),
                ("routing_failed_total", len(claimed), ""),
            ]
        )
        return stats
    _count(stats, decisions)
    _slo_record(claimed, decisions)
    return stats


def _batch_undo() -> None:
    """Everything the batch did after its claim, undone; its row locks kept. (An ORM call
    that failed may have marked the transaction for rollback: the savepoint undoes it.)"""
    transaction.set_rollback(False)
    with connection.cursor() as cursor:
        cursor.execute(f"ROLLBACK TO SAVEPOINT {BATCH_SAVEPOINT}")


ROUTED = (RoutingLog.Outcome.ROUTED, RoutingLog.Outcome.FALLBACK)


def _slo_record(claimed: list[dict[str, Any]], decisions: list[Decision]) -> None:
    """Claims, claims still held at decision time (the lock acquisition rate: every claim,
    since a batch's row locks are held until its decision is written) and the latency
    from the lead's intake commit to its routing commit (``core.slo``)."""
    committed = timezone.now()
    latencies = [
        (committed - d.lead["created_at"]).total_seconds() for d in decisions if d.outcome in ROUTED
    ]
    slo.record(
        counts=[
            ("routing_claimed_total", len(claimed), ""),
            ("routing_locked_total", len(claimed), ""),
        ],
        observations=[("routing_decision_latency_seconds", latencies, "")],
    )


def route_until_empty(*, worker_id: str, seconds: float = 50.0) -> int:
    """Route batches until nothing is pending or the time budget is spent."""
    deadline = time.monotonic() + seconds
    total = 0
    while time.monotonic() < deadline:
        stats = route_pending(worker_id=worker_id)
        total += stats.claimed
        if stats.claimed == 0:
            break
    return total


def retry_drain(*, worker_id: str, limit: int = 1000) -> int:
    """Route the leads whose retry time has come."""
    due = list(
        RetryItem.objects.filter(is_dead=False, next_retry_at__lte=timezone.now())
        .order_by("next_retry_at")
        .values_list("lead_id", flat=True)[:limit]
    )
    if due:
        route_pending(worker_id=worker_id, lead_ids=due, batch_size=len(due))
    return len(due)
