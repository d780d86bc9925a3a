"""Enrolling leads in a sequence (staged in Python, written set-wise per batch); stopping
them is ``stopping.py``."""

import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from broadcast.errors import INACTIVE, NO_DEVICE, NO_STEPS, NOT_FOUND
from broadcast.models import Device, Enrollment, EnrollmentRequest, Message, Sequence, Step
from broadcast.scheduling import recipient_timezone, window_next
from broadcast.services.consent import UNREACHABLE_SQL
from broadcast.services.requests import enrollment_requests_queue
from broadcast.templating import (
    lead_values,
    template_columns,
    template_fields,
    template_render,
)
from core.db import json_value
from core.errors import ApplicationError
from leads import fields as lead_fields
from leads.models import LeadEvent
from leads.services import lead_events_record_select

# The lead columns a message is rendered from (first steps here, successors in record.py).
LEAD_COLUMNS = (*lead_fields.PROFILE, "custom")


@dataclass
class EnrollResult:
    created: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    queued: int = 0  # leads kept in pending enrollment requests (no active device)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "skipped": dict(self.skipped), "queued": self.queued}


@dataclass
class _DevicePlan:
    """The tail of a device's queue (the slot of its last planned message) and its pace."""

    device_id: int
    tail: datetime
    spacing: timedelta  # the device's average pause
    cap: int  # sends a day
    day: date | None = None  # the day being filled by this enrollment, and how far
    used: int = 0

    def next_slot(self, earliest: datetime) -> datetime:
        slot = max(earliest, self.tail + self.spacing)
        if slot.date() != self.day:
            self.day, self.used = slot.date(), 0
        if self.used >= self.cap:  # the day is full: the next one starts at midnight UTC
            slot = datetime.combine(self.day + timedelta(days=1), datetime.min.time(), UTC)
            self.day, self.used = slot.date(), 0
        self.used += 1
        self.tail = slot
        return slot


def _sequence_devices(sequence: Sequence) -> list[Device]:
    chosen = list(sequence.devices.filter(status=Device.Status.ACTIVE).order_by("id"))
    if chosen or sequence.devices.exists():
        return chosen
    return list(
        Device.objects.filter(
            workspace_id=sequence.workspace_id, status=Device.Status.ACTIVE
        ).order_by("id")
    )


def _device_plans(sequence: Sequence, devices: list[Device], now: datetime) -> list[_DevicePlan]:
    """One index probe per device (the newest pending message), not a count of millions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.id, (SELECT m.scheduled_at FROM broadcast_message m "
            "  WHERE m.device_id = d.id AND m.status = %s "
            "  ORDER BY m.scheduled_at DESC LIMIT 1) FROM unnest(%s::bigint[]) d(id)",
            [Message.Status.PENDING, [d.pk for d in devices]],
        )
        tails = dict(cursor.fetchall())
    plans = []
    for d in devices:
        pause = timedelta(seconds=(d.min_interval_seconds + d.max_interval_seconds) / 2)
        tail = tails.get(d.pk)
        tail = max(tail, now - pause) if tail else now - pause
        plans.append(_DevicePlan(d.pk, tail, pause, d.cap_for(now.date())))
    return plans


def lead_dict(values: Iterable[Any], columns: tuple[str, ...] = LEAD_COLUMNS) -> dict[str, Any]:
    """A row of ``columns`` (``LEAD_COLUMNS`` or some of them) as templates render from."""
    lead = dict(zip(columns, values, strict=True))
    if "custom" in lead:
        lead["custom"] = json_value(lead["custom"]) or {}
    return lead


def _batched(iterable: Iterable[int], size: int) -> Iterator[list[int]]:
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def enrollment_create_many(
    *,
    lead_ids: Iterable[int],
    sequence_id: int,
    actor: str = "",
    now: datetime | None = None,
    batch_size: int | None = None,
    if_no_device: Literal["raise", "queue"] = "raise",
) -> EnrollResult:
    """Enroll leads in a sequence: one enrollment and one first message each. Idempotent.

    ``lead_ids`` may be any iterable (a generator over millions of ids): it is consumed in
    batches, each written in its own transaction with COPY, so memory stays constant. First
    sends are staggered over the devices' capacity and moved into the recipients' windows.
    Leads without a phone, suppressed, in a stop status or already enrolled are skipped.

    No active device of the sequence (a gateway outage paused them all): ``"raise"`` an
    ``ApplicationError`` (code ``no_device``), or ``"queue"`` the leads in a pending
    enrollment request, carried out (consent checked then) when a device is active again.
    """
    sequence = Sequence.objects.filter(pk=sequence_id).first()
    if sequence is None:
        raise ApplicationError("No such sequence.", code=NOT_FOUND, status_code=404)
    if not sequence.is_active:
        raise ApplicationError(f"Sequence {sequence.name} is not active.", code=INACTIVE)
    first = sequence.steps.order_by("position").first()
    if first is None:
        raise ApplicationError(f"Sequence {sequence.name} has no steps.", code=NO_STEPS)
    devices = _sequence_devices(sequence)
    if not devices:
        return _without_device(sequence, lead_ids, actor, if_no_device)
    now = now or timezone.now()
    plans = [(p.tail, p.device_id, p) for p in _device_plans(sequence, devices, now)]
    heapq.heapify(plans)  # the device whose queue ends first comes first
    plan = _EnrollPlan(sequence, first, plans, sequence.workspace.timezone, now)
    result = EnrollResult()
    # Two stages overlap: a helper thread renders batch k+1 (pure Python, no database)
    # while this thread writes batch k; every query runs on this thread's connection.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="enroll-stage") as pool:
        staging = None
        for chunk in _batched(lead_ids, batch_size or settings.BROADCAST_ENROLL_BATCH):
            rows = _enroll_fetch(plan, chunk)
            unique = len(set(chunk))
            for reason, n in (
                ("duplicate", len(chunk) - unique),
                ("not_found", unique - len(rows)),
            ):
                if n:
                    result.skipped[reason] += n
            following = pool.submit(plan.stage, rows)
            if staging is not None:
                _enroll_write(plan, staging.result(), actor, result)
            staging = following
        if staging is not None:
            _enroll_write(plan, staging.result(), actor, result)
    return result


def _without_device(
    sequence: Sequence, lead_ids: Iterable[int], actor: str, if_no_device: str
) -> EnrollResult:
    if if_no_device != "queue":
        raise ApplicationError(f"Sequence {sequence.name} has no active device.", code=NO_DEVICE)
    _rows, queued = enrollment_requests_queue(
        sequence_id=sequence.pk,
        workspace_id=sequence.workspace_id,
        lead_ids=lead_ids,
        reason=EnrollmentRequest.Reason.NO_DEVICE,
        actor=actor,
        wake=False,  # a device of the workspace becoming active wakes the worker
    )
    return EnrollResult(queued=queued)


def _enroll_fetch(plan: "_EnrollPlan", lead_ids: list[int]) -> list[tuple[Any, ...]]:
    sequence = plan.sequence
    columns = ", ".join(f"l.{c}" for c in plan.columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.id, l.workspace_id, l.status, {columns}, "
            "EXISTS (SELECT 1 FROM broadcast_enrollment e "
            "        WHERE e.sequence_id = %s AND e.lead_id = l.id), "
            f"{UNREACHABLE_SQL}, l.destination_workspace_id "
            "FROM leads_lead l WHERE l.id = ANY(%s) "
            "AND (l.workspace_id = %s OR l.destination_workspace_id = %s)",
            [sequence.pk, list(lead_ids), sequence.workspace_id, sequence.workspace_id],
        )
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


class _EnrollPlan:
    """Renders fetched leads into staged rows: device, first send time, body (no I/O)."""

    def __init__(
        self,
        sequence: Sequence,
        first: Step,
        plans: list[tuple[datetime, int, _DevicePlan]],
        fallback_tz: str,
        now: datetime,
    ) -> None:
        self.sequence, self.first, self.plans = sequence, first, plans
        self.fallback_tz, self.now = fallback_tz, now
        self.stop = set(sequence.stop_statuses or [])
        # Only what the first step renders (and phone and time zone): fetching, parsing
        # and building the rest for 10,000 leads a batch was a tenth of enrolling.
        rendered = template_columns(first.template, sequence.placeholder_defaults, LEAD_COLUMNS)
        wanted = {"phone", "timezone", *rendered}
        self.columns = tuple(column for column in LEAD_COLUMNS if column in wanted)
        try:
            self.names: set[str] | None = set(template_fields(first.template))
        except ValueError:
            self.names = None  # rendering raises as before

    def stage(self, rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
        sequence, first, plans = self.sequence, self.first, self.plans
        earliest = self.now + timedelta(minutes=first.delay_minutes)
        staged: list[tuple[Any, ...]] = []
        skipped: defaultdict[str, int] = defaultdict(int)
        columns, n_cols, names = self.columns, len(self.columns), self.names
        defaults = sequence.placeholder_defaults
        for row in rows:
            lead_id, workspace_id, status = row[0], row[1], row[2]
            lead = lead_dict(row[3 : 3 + n_cols], columns)
            enrolled, suppressed, destination_id = row[3 + n_cols : 6 + n_cols]
            if enrolled:
                skipped["already_enrolled"] += 1
            elif not lead["phone"]:
                skipped["no_phone"] += 1
            elif suppressed:
                skipped["suppressed"] += 1
            elif status in self.stop:
                skipped["stop_status"] += 1
            else:
                _tail, _id, plan = plans[0]  # the least busy device (ties: lowest id)
                tz = recipient_timezone(
                    lead_timezone=lead["timezone"], phone=lead["phone"], fallback=self.fallback_tz
                )
                at = window_next(
                    plan.next_slot(earliest), tz, sequence.window_start, sequence.window_end
                )
                values = lead_values(lead, defaults, names)
                body = template_render(first.template, values)
                staged.append(
                    (
                        lead_id,
                        plan.device_id,
                        workspace_id,
                        lead["phone"],
                        tz,
                        at,
                        body,
                        destination_id,
                    )
                )
                heapq.heapreplace(plans, (plan.tail, plan.device_id, plan))
        return staged, skipped


def _enroll_write(
    plan: _EnrollPlan,
    staging: tuple[list[tuple[Any, ...]], dict[str, int]],
    actor: str,
    result: EnrollResult,
) -> None:
    """Write one staged batch in its own transaction: COPY it into the staging table, insert
    the enrollments and their first messages in one statement, and record an ``enrolled``
    event for each enrollment created (leads that were enrolled meanwhile are skipped)."""
    staged, skipped = staging
    for reason, n in skipped.items():
        result.skipped[reason] += n
    if not staged:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        _stage_copy(cursor, staged)
        created = _enrollments_insert(plan, timezone.now(), actor)
    result.created += created
    if created < len(staged):
        result.skipped["already_enrolled"] += len(staged) - created


def _stage_copy(cursor: CursorWrapper, staged: list[tuple[Any, ...]]) -> None:
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS broadcast_enroll_stage (lead_id bigint, "
        "device_id bigint, workspace_id bigint, phone varchar(20), tz varchar(64), "
        "scheduled_at timestamptz, body text, destination_id bigint) ON COMMIT DELETE ROWS"
    )
    # Callers may batch inside one outer transaction (routing does): start empty.
    cursor.execute("TRUNCATE broadcast_enroll_stage")
    with cursor.cursor.copy(
        "COPY broadcast_enroll_stage (lead_id, device_id, workspace_id, phone, tz, "
        "scheduled_at, body, destination_id) FROM STDIN"
    ) as copy:
        for row in staged:
            copy.write_row(row)


def _enrollments_insert(plan: _EnrollPlan, now: datetime, actor: str) -> int:
    """The staged enrollments, their first messages and an ``enrolled`` event each, in one
    statement (the history written by ``leads``, from the enrollments just inserted: their
    ids never travel to Python; 10,000 ``EventSpec``s a batch slowed enrolling by a third,
    bench/README). Returns the enrollments created. The messages carry their lead's scope
    as read with the lead (a stamp given on insert is kept: the trigger's lookup per row
    cost a quarter of enrolling; the minute's re-check mends one a reroute made stale)."""
    first = plan.first
    return lead_events_record_select(
        with_sql=(
            "ins AS ("
            "  INSERT INTO broadcast_enrollment (sequence_id, lead_id, device_id, workspace_id,"
            "    phone, timezone, current_step, status, reason, created_at, updated_at)"
            "  SELECT %(seq)s, lead_id, device_id, workspace_id, phone, tz, %(step)s,"
            "    %(active)s, '', %(now)s, %(now)s FROM broadcast_enroll_stage"
            "  ON CONFLICT (lead_id, sequence_id) DO NOTHING RETURNING id, lead_id, device_id),"
            " msg AS ("
            "  INSERT INTO broadcast_message (scheduled_at, enrollment_id, step, device_id,"
            "    lead_id, body, media_url, status, attempts, gateway_id, error, created_at,"
            "    lead_workspace_id, lead_destination_id)"
            "  SELECT s.scheduled_at, ins.id, %(step)s, s.device_id, s.lead_id, s.body,"
            "    %(media)s, %(pending)s, 0, '', '', %(now)s, s.workspace_id, s.destination_id"
            "  FROM ins JOIN broadcast_enroll_stage s USING (lead_id))"
        ),
        params={
            "seq": plan.sequence.pk,
            "step": first.position,
            "now": now,
            "media": first.media_url,
            "active": Enrollment.Status.ACTIVE,
            "pending": Message.Status.PENDING,
        },
        source_sql=(
            "SELECT ins.lead_id, jsonb_build_object('sequence_id', %(seq)s, "
            "'enrollment_id', ins.id, 'device_id', ins.device_id) AS data FROM ins"
        ),
        kind=LeadEvent.Kind.ENROLLED,
        message=f"Enrolled in sequence {plan.sequence.name}",
        actor=actor or "broadcast",
        at=now,
    )
