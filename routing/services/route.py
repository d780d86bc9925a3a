"""Routing a batch: claim pending leads, decide set-wise, write every decision with its reason.

Two workers never route the same lead: a batch is one transaction that claims its leads
by row-locking them (``leads_lock_for_routing``, ``FOR UPDATE SKIP LOCKED``), decides,
and writes every decision before its row locks are released. Everything a decision changes
is written set-wise: the leads (by the leads app's service), the routing log, the history,
the VICIdial pushes and the sequence enrollments.

A pass sends its statements in a few messages, whatever its size: the claim with the
rules' version (and the batch's savepoint); the rules' and counters' locks with the
partner sales (when a matched rule has any); the writes (leads, counters, rotations,
routing log, history, retry items); then the deliveries' own statements, if any. BEGIN
and COMMIT go on their own (Django's ``atomic``: the deliveries may open savepoints).
"""

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from broadcast import services as broadcast_services
from core import slo
from core.actors import system_actor
from core.errors import ApplicationError
from core.pipeline import Pending, Sender, Statement, pipelined
from dialer import services as dialer_services
from leads.models import Lead, LeadEvent, Workspace
from leads.services import (
    EventSpec,
    RoutingOutcome,
    lead_events_record,
    lead_events_statement,
    leads_lock_for_routing,
    leads_routing_apply_statement,
    routing_leads,
)
from routing.models import RetryItem, RoutingLog
from routing.services.decide import Decision, decide
from routing.services.retry import retry_schedule
from routing.services.rules import RULES_VERSION_SQL, active_rules

logger = logging.getLogger(__name__)

# Leads waiting in the retry queue are the retry drain's, not the sweeper's.
IN_RETRY_QUEUE = "SELECT 1 FROM routing_retryitem r WHERE r.lead_id = l.id"

LEAD_STATUS: dict[str, str] = {
    RoutingLog.Outcome.ROUTED: Lead.Status.ROUTED,
    RoutingLog.Outcome.FALLBACK: Lead.Status.ROUTED,
    RoutingLog.Outcome.UNROUTED: Lead.Status.UNROUTED,
    RoutingLog.Outcome.EXPIRED: Lead.Status.EXPIRED,
    RoutingLog.Outcome.SUPPRESSED: Lead.Status.SUPPRESSED,
}
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


@dataclass
class _Batch:
    """What a batch's decisions write besides the leads: log, history and deliveries."""

    worker_id: str
    now: datetime
    fallback: Workspace | None
    outcomes: list[RoutingOutcome] = field(default_factory=list)
    logs: list[RoutingLog] = field(default_factory=list)
    events: list[EventSpec] = field(default_factory=list)
    adds: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    moves: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    enroll: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))

    @property
    def actor(self) -> str:
        return system_actor("routing", self.worker_id)

    def add(self, dec: Decision, duration_ms: float) -> None:
        outcome, workspace_id = dec.outcome, dec.workspace_id
        if outcome == RoutingLog.Outcome.UNROUTED and self.fallback is not None:
            outcome, workspace_id = RoutingLog.Outcome.FALLBACK, self.fallback.pk
        lead_id = dec.lead["id"]
        rule_id = dec.rule.id if dec.rule else None
        self.outcomes.append(
            RoutingOutcome(lead_id, LEAD_STATUS[outcome], dec.reason, workspace_id, rule_id)
        )
        self.logs.append(
            RoutingLog(
                created_at=self.now,
                lead_id=lead_id,
                rule_id=rule_id,
                rule_name=dec.rule.name if dec.rule else "",
                destination_workspace_id=workspace_id,
                outcome=outcome,
                reason=dec.reason,
                duration_ms=duration_ms,
                worker=self.worker_id,
                # The lead's scope as this batch leaves it (``leads_routing_apply`` writes
                # ``workspace_id`` as its destination): given, the insert trigger need not
                # read the lead for every row.
                lead_workspace_id=dec.lead["workspace_id"],
                lead_destination_id=workspace_id,
            )
        )
        kind, message, data = self._history(dec, outcome)
        self.events.append(
            EventSpec(
                lead_id,
                kind,
                message,
                data,
                actor=self.actor,
                at=self.now,
                lead_workspace_id=dec.lead["workspace_id"],
                lead_destination_id=workspace_id,
            )
        )

    def _history(self, dec: Decision, outcome: str) -> tuple[str, str, dict[str, Any]]:
        if outcome == RoutingLog.Outcome.ROUTED:
            assert dec.rule is not None and dec.destination is not None
            d = dec.destination
            if d.vici_list_id:
                in_vici = dec.lead["vici_list_number"]
                (self.moves if in_vici else self.adds)[d.vici_list_id].append(dec.lead["id"])
            if d.sequence_id:
                self.enroll[d.sequence_id].append(dec.lead["id"])
            return (
                LeadEvent.Kind.ROUTED,
                f"Routed to {d.workspace_name} by rule {dec.rule.name} {dec.reason}",
                {
                    "rule_id": dec.rule.id,
                    "rule_name": dec.rule.name,
                    "destination": d.workspace_name,
                    "destination_workspace_id": d.workspace_id,
                    "reason": dec.reason,
                },
            )
        if outcome == RoutingLog.Outcome.FALLBACK:
            assert self.fallback is not None
            return (
                LeadEvent.Kind.ROUTED,
                f"No rule took it ({dec.reason}); sent to fallback {self.fallback.name}",
                {"destination": self.fallback.name, "reason": dec.reason, "fallback": True},
            )
        if outcome == RoutingLog.Outcome.EXPIRED:
            return LeadEvent.Kind.EXPIRED, f"Expired: {dec.reason}", {}
        if outcome == RoutingLog.Outcome.SUPPRESSED:
            return LeadEvent.Kind.SUPPRESSED, f"Not routed: {dec.reason}", {}
        return LeadEvent.Kind.UNROUTED, f"Not routed: {dec.reason}", {"reason": dec.reason}

    def deliver(self) -> None:
        """Enqueue the VICIdial pushes and moves and the sequence enrollments."""
        for list_id, lead_ids in self.adds.items():
            dialer_services.outbox_enqueue_add(lead_ids=lead_ids, vici_list_id=list_id)
        for list_id, lead_ids in self.moves.items():
            dialer_services.outbox_enqueue_move(lead_ids=lead_ids, vici_list_id=list_id)
        for sequence_id, lead_ids in self.enroll.items():
            self._enroll(sequence_id, lead_ids)

    def _enroll(self, sequence_id: int, lead_ids: list[int]) -> None:
        try:
            broadcast_services.enrollment_create_many(
                lead_ids=lead_ids, sequence_id=sequence_id, actor=self.actor, if_no_device="queue"
            )  # no active device: the leads wait in a pending enrollment request
        except ApplicationError as exc:  # an inactive sequence must not block routing
            logger.error("routing could not enroll in sequence %s: %s", sequence_id, exc)
            lead_events_record(
                events=[
                    EventSpec(
                        lead_id=lead_id,
                        kind=LeadEvent.Kind.ENROLLMENT_STOPPED,
                        message=f"Not enrolled: {exc.message}",
                        actor=self.actor,
                        data={"sequence_id": sequence_id},
                    )
                    for lead_id in lead_ids
                ]
            )


def _fallback_workspace() -> Workspace | None:
    slug = settings.ROUTING_FALLBACK_WORKSPACE
    return Workspace.objects.filter(slug=slug).first() if slug else None


def _write(
    decisions: list[Decision],
    saves: list[Statement],
    *,
    worker_id: str,
    now: datetime,
    started: float,
) -> None:
    """Write all decisions of a batch set-wise in one message: leads, counters and
    rotations (``saves``), routing log, events and retry items; then the deliveries."""
    batch = _Batch(worker_id=worker_id, now=now, fallback=_fallback_workspace())
    duration = (time.perf_counter() - started) * 1000 / max(1, len(decisions))
    for dec in decisions:
        batch.add(dec, duration)
    events, _ = lead_events_statement(events=batch.events)
    with pipelined() as send:
        applied = leads_routing_apply_statement(
            outcomes=batch.outcomes,
            now=now,
            created_at=[dec.lead["created_at"] for dec in decisions],
        )
        for statement in [*saves, applied, _logs_statement(batch.logs), events]:
            if statement is not None:
                send(*statement)
        send(
            "DELETE FROM routing_retryitem WHERE lead_id = ANY(%s)",
            [[dec.lead["id"] for dec in decisions]],
        )
    batch.deliver()


# The routing log's columns written by a pass, with their types for ``unnest``.
LOG_COLUMNS = {
    "created_at": "timestamptz",
    "lead_id": "bigint",
    "rule_id": "bigint",
    "rule_name": "varchar",
    "destination_workspace_id": "bigint",
    "outcome": "varchar",
    "reason": "text",
    "duration_ms": "float8",
    "worker": "varchar",
    "lead_workspace_id": "bigint",
    "lead_destination_id": "bigint",
}


def _logs_statement(logs: list[RoutingLog]) -> Statement | None:
    """The routing log's rows in one INSERT (``unnest``: one value per column, not per cell)."""
    if not logs:
        return None
    columns = [
        # A float's text (its array literal is written by ``core.sql_literals``, not psycopg).
        [f"{log.duration_ms:.3f}" if name == "duration_ms" else getattr(log, name) for log in logs]
        for name in LOG_COLUMNS
    ]
    arrays = ", ".join(f"%s::{kind}[]" for kind in LOG_COLUMNS.values())
    return (
        f"INSERT INTO routing_routinglog ({', '.join(LOG_COLUMNS)}) SELECT * FROM unnest({arrays})",
        columns,
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
            _write(decisions, saves, worker_id=worker_id, now=now, started=started)
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
