"""What follows a sent message: the enrollment's next step, rendered and moved into the
recipient's window, or the enrollment's completion. Written set-wise for a batch of sends."""

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from broadcast.models import Sequence, Step
from broadcast.scheduling import window_next
from broadcast.services.enrollment import LEAD_COLUMNS, lead_dict
from broadcast.templating import lead_values, template_render
from core.db import unnest_columns
from leads.models import LeadEvent
from leads.services import EventSpec

if TYPE_CHECKING:
    from broadcast.services.dispatch import Outcome


_steps_cache: dict[int, tuple[float, list[Step], Sequence]] = {}


def _sequence_steps(sequence_id: int) -> tuple[list[Step], Sequence]:
    """Steps of a sequence, cached for a few seconds (edits show up on the next refresh)."""
    hit = _steps_cache.get(sequence_id)
    if hit and time.monotonic() - hit[0] < 10:
        return hit[1], hit[2]
    sequence = Sequence.objects.get(pk=sequence_id)
    steps = list(sequence.steps.order_by("position"))
    _steps_cache[sequence_id] = (time.monotonic(), steps, sequence)
    return steps, sequence


def successors_write(cursor, sent: list["Outcome"], now: datetime) -> list[EventSpec]:
    """Advance enrollments past the sent step: write the next message, or complete them.
    Returns the history events of the completed ones."""
    ids = [o.claim.enrollment_id for o in sent]
    columns = ", ".join(f"l.{c}" for c in LEAD_COLUMNS)
    cursor.execute(
        f"SELECT e.id, e.sequence_id, e.timezone, {columns} FROM broadcast_enrollment e "
        "LEFT JOIN leads_lead l ON l.id = e.lead_id WHERE e.id = ANY(%s) AND e.status = 'active'",
        [ids],
    )
    rows = {row[0]: row for row in cursor.fetchall()}
    advance, complete, messages = [], [], []
    for o in sent:
        c = o.claim
        row = rows.get(c.enrollment_id)
        if row is None:  # stopped while the message was in flight
            continue
        steps, sequence = _sequence_steps(row[1])
        following = [s for s in steps if s.position > c.step]
        if not following:
            complete.append(c.enrollment_id)
            continue
        step = following[0]
        lead = lead_dict(row[3:])
        started = datetime.fromtimestamp(o.started, tz=UTC)
        at = window_next(
            started + timedelta(minutes=step.delay_minutes),
            row[2],
            sequence.window_start,
            sequence.window_end,
        )
        body = template_render(step.template, lead_values(lead, sequence.placeholder_defaults))
        advance.append((c.enrollment_id, step.position))
        messages.append(
            (at, c.enrollment_id, step.position, c.device["id"], c.lead_id, body, step.media_url)
        )
    events = []
    if complete:
        cursor.execute(
            "UPDATE broadcast_enrollment SET status = 'completed', updated_at = %s "
            "WHERE id = ANY(%s) AND status = 'active' RETURNING id, lead_id, sequence_id",
            [now, complete],
        )
        events = [
            EventSpec(
                lead_id=lead_id,
                kind=LeadEvent.Kind.ENROLLMENT_COMPLETED,
                message="Sequence completed: every step was sent",
                actor="broadcast",
                at=now,
                data={"enrollment_id": eid, "sequence_id": seq_id},
            )
            for eid, lead_id, seq_id in cursor.fetchall()
        ]
    if advance:
        cursor.execute(
            "UPDATE broadcast_enrollment e SET current_step = k.step, updated_at = %s "
            "FROM unnest(%s::bigint[], %s::int[]) k(id, step) WHERE e.id = k.id",
            [now, *unnest_columns(advance)],
        )
        cursor.execute(
            "INSERT INTO broadcast_message (scheduled_at, enrollment_id, step, device_id, "
            "lead_id, body, media_url, status, attempts, gateway_id, error, created_at) "
            "SELECT k.at, k.e, k.step, k.d, k.l, k.body, k.media, 'pending', 0, '', '', %s "
            "FROM unnest(%s::timestamptz[], %s::bigint[], %s::int[], %s::bigint[], "
            "%s::bigint[], %s::text[], %s::varchar[]) k(at, e, step, d, l, body, media)",
            [now, *unnest_columns(messages)],
        )
    return events
