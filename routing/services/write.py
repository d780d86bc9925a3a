"""Writing a routing batch's decisions: the leads, the routing log, the history and the
deliveries, set-wise.

``write_decisions`` sends every write of a batch in one message (``core.pipeline``): the
counters and rotations ``decide`` returned, the leads (by the leads app's service), the
routing log (one ``unnest`` INSERT), the history and the retry items' removal; then it
enqueues the VICIdial pushes and moves and the sequence enrollments.
"""

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings

from broadcast import services as broadcast_services
from core.actors import system_actor
from core.errors import ApplicationError
from core.pipeline import Statement, pipelined
from dialer import services as dialer_services
from leads.models import Lead, LeadEvent, Workspace
from leads.services import (
    EventSpec,
    RoutingOutcome,
    lead_events_record,
    lead_events_statement,
    leads_routing_apply_statement,
)
from routing.models import RoutingLog
from routing.services.decide import Decision

logger = logging.getLogger(__name__)

LEAD_STATUS: dict[str, str] = {
    RoutingLog.Outcome.ROUTED: Lead.Status.ROUTED,
    RoutingLog.Outcome.FALLBACK: Lead.Status.ROUTED,
    RoutingLog.Outcome.UNROUTED: Lead.Status.UNROUTED,
    RoutingLog.Outcome.EXPIRED: Lead.Status.EXPIRED,
    RoutingLog.Outcome.SUPPRESSED: Lead.Status.SUPPRESSED,
}


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


def write_decisions(
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
