"""The way back into the database: a batch of send outcomes written set-wise (message
states, device pacing and health, failed enrollments, history) and each sent message's
successor (the enrollment's next step, rendered and moved into the recipient's window, or
its completion). A fixed number of statements per batch, whatever its size."""

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from broadcast.client import GatewayRejected, GatewaySessionDown
from broadcast.models import Device, Enrollment, Message, Sequence, Step
from broadcast.scheduling import window_next
from broadcast.services.devices import device_alert
from broadcast.services.dispatch import DispatchStats, Outcome
from broadcast.services.enrollment import LEAD_COLUMNS, lead_dict
from broadcast.templating import lead_values, template_render
from core import slo
from core.backoff import jittered_backoff
from core.db import unnest_columns
from leads.models import LeadEvent
from leads.services import EventSpec, lead_events_record


@dataclass
class _RecordBatch:
    """The rows of one ``dispatch_record``, one list per statement."""

    # (message id, scheduled_at, status, new scheduled_at, sent_at, gateway id, error)
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    # (device id, next_send_at, sent, counts as a failure, new status, error, sent_at)
    devices: list[tuple[Any, ...]] = field(default_factory=list)
    sent: list[Outcome] = field(default_factory=list)
    failed: list[tuple[int, int, str]] = field(default_factory=list)  # enrollment, lead, why
    events: list[EventSpec] = field(default_factory=list)


def dispatch_record(outcomes: list[Outcome], stats: DispatchStats | None = None) -> None:
    """Write the results of sends: message states, device pacing and health, successors.

    Idempotent: an outcome is written only while its message is still the attempt that was
    claimed (in flight, or given back by lease recovery), so recording a batch again (the
    connection died after the commit) or late (another dispatcher claimed it again) writes
    nothing twice: no second successor, no device freed that another dispatcher holds."""
    stats = stats or DispatchStats()
    if not outcomes:
        return
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        live = _claimed_attempts(cursor, outcomes)
        batch = _RecordBatch()
        for o in outcomes:
            if o.claim.message_id in live:
                _record_sort(batch, o, now, stats)
        if not batch.messages:
            return
        _messages_update(cursor, batch.messages)
        changed = _devices_update(cursor, batch.devices, now)
        if batch.sent:
            batch.events += _successors_write(cursor, batch.sent, now)
        if batch.failed:
            batch.events += _enrollments_fail(cursor, batch.failed, now)
        lead_events_record(events=batch.events)
    stats.sent += len(batch.sent)
    stats.found += sum(o.found for o in batch.sent)
    _slo_record(batch.sent)
    for device_id, status, reason in changed:
        device_alert(device_id, f"{status}: {reason}")


# A send this much closer to the previous one than the minimum interval is a violation (clock
# resolution: the pause counts from the gateway's answer, so a real send is never closer).
PACING_TOLERANCE_SECONDS = 0.01


def _slo_record(sent: list[Outcome]) -> None:
    """The send lag against the schedule and pacing violations (``core.slo``)."""
    lags, violations = [], 0
    for o in sent:
        lags.append(o.started - o.claim.scheduled_at.timestamp())
        previous, d = o.claim.device.get("last_sent_at"), o.claim.device
        if previous is not None:
            gap = o.started - previous.timestamp()
            violations += gap < d["min_interval_seconds"] - PACING_TOLERANCE_SECONDS
    slo.record(
        counts=[
            ("broadcast_sends_total", len(sent), ""),
            ("broadcast_pacing_violations_total", violations, ""),
        ],
        observations=[("broadcast_send_lag_seconds", lags, "")],
    )


def _claimed_attempts(cursor: CursorWrapper, outcomes: list[Outcome]) -> set[int]:
    """The messages still at the attempt each outcome is about (locked until the commit)."""
    cursor.execute(
        "SELECT m.id FROM broadcast_message m JOIN unnest(%s::bigint[], %s::timestamptz[], "
        "%s::int[]) k(id, at, n) ON m.id = k.id AND m.scheduled_at = k.at "
        "WHERE m.status IN (%s, %s) AND m.attempts = k.n FOR UPDATE OF m",
        [
            *unnest_columns(
                [(o.claim.message_id, o.claim.scheduled_at, o.claim.attempts) for o in outcomes]
            ),
            Message.Status.SENDING,
            Message.Status.PENDING,
        ],
    )
    return {row[0] for row in cursor.fetchall()}


def _record_sort(batch: _RecordBatch, o: Outcome, now: datetime, stats: DispatchStats) -> None:
    """One outcome into the batch. The device's next turn counts from the gateway's answer,
    not from the request: however long the request took to reach the gateway, the next one
    reaches it at least ``pause`` after this one did."""
    d = o.claim.device
    pause = random.uniform(d["min_interval_seconds"], d["max_interval_seconds"])
    next_at = datetime.fromtimestamp(max(o.finished, o.started), tz=UTC) + timedelta(seconds=pause)
    if o.error is None:
        _record_sent(batch, o, next_at)
    else:
        _record_failure(batch, o, next_at, now, stats)


def _record_sent(batch: _RecordBatch, o: Outcome, next_at: datetime) -> None:
    c, d = o.claim, o.claim.device
    started = datetime.fromtimestamp(o.started, tz=UTC)
    batch.messages.append(
        (
            c.message_id,
            c.scheduled_at,
            Message.Status.SENT,
            c.scheduled_at,
            started,
            o.gateway_id,
            "",
        )
    )
    batch.devices.append((d["id"], next_at, True, False, "", "", started))
    batch.sent.append(o)
    batch.events.append(
        EventSpec(
            lead_id=c.lead_id,
            kind=LeadEvent.Kind.MESSAGE_SENT,
            message=c.body[:200],
            actor=f"device:{d['id']}",
            at=started,
            data={
                "message_id": c.message_id,
                "step": c.step,
                "gateway_id": o.gateway_id,
                **({"found_on_gateway": True} if o.found else {}),
            },
        )
    )


def _record_failure(
    batch: _RecordBatch, o: Outcome, next_at: datetime, now: datetime, stats: DispatchStats
) -> None:
    """Rejected (the number can never be reached): the enrollment fails, the device is fine.
    Otherwise the message is retried with backoff until BROADCAST_MAX_ATTEMPTS, the failure
    counts against the device, and a session that is down marks the device."""
    c, d, err = o.claim, o.claim.device, o.error
    assert err is not None  # a failure
    text = (err.message or repr(err))[:1000]
    key = (c.message_id, c.scheduled_at)
    if isinstance(err, GatewayRejected):
        batch.messages.append((*key, Message.Status.FAILED, c.scheduled_at, None, "", text))
        batch.failed.append((c.enrollment_id, c.lead_id, text))
        batch.devices.append((d["id"], next_at, False, False, "", text, None))
        stats.failed += 1
        return
    if err.retryable and c.attempts < settings.BROADCAST_MAX_ATTEMPTS:
        backoff = jittered_backoff(c.attempts, base=settings.BROADCAST_RETRY_BASE_SECONDS)
        batch.messages.append((*key, Message.Status.PENDING, now + backoff, None, "", text))
        stats.retried += 1
    else:
        batch.messages.append((*key, Message.Status.FAILED, c.scheduled_at, None, "", text))
        batch.failed.append((c.enrollment_id, c.lead_id, text))
        stats.failed += 1
    new_status = ""
    if isinstance(err, GatewaySessionDown):
        new_status = Device.Status.BANNED if err.banned else Device.Status.DISCONNECTED
    batch.devices.append((d["id"], next_at, False, True, new_status, text, None))


def _messages_update(cursor: CursorWrapper, rows: list[tuple[Any, ...]]) -> None:
    cursor.execute(
        "UPDATE broadcast_message m SET status = k.status, scheduled_at = k.new_at, "
        "sent_at = k.sent_at, gateway_id = k.gw, error = k.err FROM unnest("
        "%s::bigint[], %s::timestamptz[], %s::varchar[], %s::timestamptz[], "
        "%s::timestamptz[], %s::varchar[], %s::text[]) k(id, at, status, new_at, sent_at, "
        "gw, err) WHERE m.id = k.id AND m.scheduled_at = k.at",
        unnest_columns(rows),
    )


def _devices_update(
    cursor: CursorWrapper, rows: list[tuple[Any, ...]], now: datetime
) -> list[tuple[int, str, str]]:
    """Free the devices and set their next turn, daily count and health; a device pauses
    at BROADCAST_DEVICE_MAX_FAILURES consecutive failures, and is probed from then on to
    resume it (``probe.py``). Returns the devices that stopped being active (id, status,
    reason), to alert on after the commit."""
    max_failures = settings.BROADCAST_DEVICE_MAX_FAILURES
    probe_at = now + jittered_backoff(1, base=settings.BROADCAST_PROBE_BASE_SECONDS)
    pausing = (
        "d.status = %(active)s AND k.new_status = '' AND k.failure "
        "AND d.consecutive_failures + 1 >= %(max)s"
    )
    cursor.execute(
        "UPDATE broadcast_device d SET lease_until = NULL, next_send_at = k.next_at, "
        "sent_today = CASE WHEN NOT k.sent THEN d.sent_today "
        "  WHEN d.sent_on = k.sent_at::date THEN d.sent_today + 1 ELSE 1 END, "
        "sent_on = CASE WHEN k.sent THEN k.sent_at::date ELSE d.sent_on END, "
        "last_sent_at = COALESCE(k.sent_at, d.last_sent_at), "
        "consecutive_failures = CASE WHEN k.sent THEN 0 WHEN k.failure "
        "  THEN d.consecutive_failures + 1 ELSE d.consecutive_failures END, "
        "last_error = CASE WHEN k.err <> '' THEN k.err ELSE d.last_error END, "
        "last_error_at = CASE WHEN k.err <> '' THEN %(now)s ELSE d.last_error_at END, "
        "status = CASE WHEN d.status <> %(active)s THEN d.status "
        "  WHEN k.new_status <> '' THEN k.new_status "
        "  WHEN k.failure AND d.consecutive_failures + 1 >= %(max)s THEN %(paused)s "
        "  ELSE d.status END, "
        "status_reason = CASE WHEN d.status <> %(active)s THEN d.status_reason "
        "  WHEN k.new_status <> '' THEN k.err "
        "  WHEN k.failure AND d.consecutive_failures + 1 >= %(max)s "
        "  THEN 'paused after ' || (d.consecutive_failures + 1) || ' failed sends: ' || k.err "
        "  ELSE d.status_reason END, "
        f"probe_at = CASE WHEN {pausing} THEN %(probe_at)s ELSE d.probe_at END, "
        f"probe_attempts = CASE WHEN {pausing} THEN 0 ELSE d.probe_attempts END "
        "FROM unnest(%(ids)s::bigint[], %(next)s::timestamptz[], %(sent)s::boolean[], "
        "%(failure)s::boolean[], %(status)s::varchar[], %(err)s::text[], "
        "%(sent_at)s::timestamptz[]) k(id, next_at, sent, failure, new_status, err, sent_at) "
        "WHERE d.id = k.id RETURNING d.id, d.status, d.status_reason",
        {
            "now": now,
            "max": max_failures,
            "probe_at": probe_at,
            "active": Device.Status.ACTIVE,
            "paused": Device.Status.PAUSED,
            **dict(
                zip(
                    ("ids", "next", "sent", "failure", "status", "err", "sent_at"),
                    unnest_columns(rows),
                    strict=True,
                )
            ),
        },
    )
    return [(i, s, r) for i, s, r in cursor.fetchall() if s != Device.Status.ACTIVE]


def _enrollments_fail(
    cursor: CursorWrapper, failed: list[tuple[int, int, str]], now: datetime
) -> list[EventSpec]:
    """Enrollments whose message can never be sent fail; returns their history events."""
    cursor.execute(
        "UPDATE broadcast_enrollment SET status = %s, reason = k.reason, "
        "updated_at = %s FROM unnest(%s::bigint[], %s::varchar[]) k(id, reason) "
        "WHERE broadcast_enrollment.id = k.id AND status = %s "
        "RETURNING broadcast_enrollment.id, lead_id, sequence_id, k.reason",
        [
            Enrollment.Status.FAILED,
            now,
            [e for e, _, _ in failed],
            [r[:255] for _, _, r in failed],
            Enrollment.Status.ACTIVE,
        ],
    )
    return [
        EventSpec(
            lead_id=lead_id,
            kind=LeadEvent.Kind.ENROLLMENT_STOPPED,
            message=f"Sequence failed: {reason}",
            actor="broadcast",
            at=now,
            data={"enrollment_id": eid, "sequence_id": seq_id},
        )
        for eid, lead_id, seq_id, reason in cursor.fetchall()
    ]


# --- successors ---------------------------------------------------------------------------


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


def _successors_write(cursor: CursorWrapper, sent: list[Outcome], now: datetime) -> list[EventSpec]:
    """Advance enrollments past the sent step: write the next message, or complete them.
    Returns the history events of the completed ones."""
    ids = [o.claim.enrollment_id for o in sent]
    columns = ", ".join(f"l.{c}" for c in LEAD_COLUMNS)
    cursor.execute(
        f"SELECT e.id, e.sequence_id, e.timezone, {columns} FROM broadcast_enrollment e "
        "LEFT JOIN leads_lead l ON l.id = e.lead_id WHERE e.id = ANY(%s) AND e.status = %s",
        [ids, Enrollment.Status.ACTIVE],
    )
    rows = {row[0]: row for row in cursor.fetchall()}
    complete, messages = [], []
    for o in sent:
        row = rows.get(o.claim.enrollment_id)
        if row is None:  # stopped while the message was in flight
            continue
        successor = _successor(o, sequence_id=row[1], tz=row[2], lead=row[3:])
        if successor is None:
            complete.append(o.claim.enrollment_id)
        else:
            messages.append(successor)
    events = _enrollments_complete(cursor, complete, now) if complete else []
    if messages:
        _successors_insert(cursor, messages, now)
    return events


def _successor(
    o: Outcome, *, sequence_id: int, tz: str, lead: tuple[Any, ...]
) -> tuple[Any, ...] | None:
    """The next message of a sent one's enrollment (rendered, scheduled ``delay`` after the
    send and moved into the recipient's window), or None after the last step."""
    c = o.claim
    steps, sequence = _sequence_steps(sequence_id)
    following = [s for s in steps if s.position > c.step]
    if not following:
        return None
    step = following[0]
    started = datetime.fromtimestamp(o.started, tz=UTC)
    at = window_next(
        started + timedelta(minutes=step.delay_minutes),
        tz,
        sequence.window_start,
        sequence.window_end,
    )
    values = lead_values(lead_dict(lead), sequence.placeholder_defaults)
    body = template_render(step.template, values)
    return (at, c.enrollment_id, step.position, c.device["id"], c.lead_id, body, step.media_url)


def _enrollments_complete(cursor: CursorWrapper, ids: list[int], now: datetime) -> list[EventSpec]:
    cursor.execute(
        "UPDATE broadcast_enrollment SET status = %s, updated_at = %s "
        "WHERE id = ANY(%s) AND status = %s RETURNING id, lead_id, sequence_id",
        [Enrollment.Status.COMPLETED, now, ids, Enrollment.Status.ACTIVE],
    )
    return [
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


def _successors_insert(
    cursor: CursorWrapper, messages: list[tuple[Any, ...]], now: datetime
) -> None:
    """Move the enrollments to their next step and write its message (one row each)."""
    cursor.execute(
        "UPDATE broadcast_enrollment e SET current_step = k.step, updated_at = %s "
        "FROM unnest(%s::bigint[], %s::int[]) k(id, step) WHERE e.id = k.id",
        [now, [m[1] for m in messages], [m[2] for m in messages]],
    )
    cursor.execute(
        "INSERT INTO broadcast_message (scheduled_at, enrollment_id, step, device_id, "
        "lead_id, body, media_url, status, attempts, gateway_id, error, created_at) "
        "SELECT k.at, k.e, k.step, k.d, k.l, k.body, k.media, %s, 0, '', '', %s "
        "FROM unnest(%s::timestamptz[], %s::bigint[], %s::int[], %s::bigint[], "
        "%s::bigint[], %s::text[], %s::varchar[]) k(at, e, step, d, l, body, media)",
        [Message.Status.PENDING, now, *unnest_columns(messages)],
    )
