"""Broadcast write paths: enrollment, stopping, the paced dispatcher, gateway events.

Scale rules (see the broadcast issue and DESIGN.md):

* Lazy: an active enrollment has at most one unsent message. Enrolling N leads writes N
  enrollments and N first messages (COPY into a staging table, one INSERT ... SELECT per
  batch); a message's successor is written when it is sent.
* Pacing is a property of the device row: the dispatcher claims devices whose
  ``next_send_at`` has come, with ``FOR UPDATE SKIP LOCKED``, puts a lease on them, and
  writes ``next_send_at = the gateway's answer + random(min, max)`` when the send is done.
  A device has at most one send in flight and the next request leaves after the previous
  one was answered plus the pause, so no two of its sends are closer than its minimum
  interval, at our end or at the gateway's, whatever the number of dispatchers.
* Consent at send time: suppression (phone or email, the lead's workspace or global), the
  enrollment's state and the sequence's stop statuses are checked for every claimed message.
"""

import heapq
import itertools
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from broadcast.client import (
    GatewayError,
    GatewayEvent,
    GatewayRejected,
    GatewaySessionDown,
    client_for,
)
from broadcast.models import Device, Enrollment, Message, Sequence, Step, daily_cap_on
from broadcast.scheduling import in_window, recipient_timezone, window_next
from broadcast.templating import lead_values, template_render
from core.backoff import jittered_backoff
from core.db import json_value, unnest_columns
from core.errors import ApplicationError
from core.http import HttpPolicy, build_session
from leads.models import Lead, LeadEvent, Suppression
from leads.services import EventSpec, lead_events_record, lead_status_set, suppression_add_many

logger = logging.getLogger(__name__)
alerts = logging.getLogger("leadbrain.alerts")

LEAD_COLUMNS = (
    "first_name",
    "last_name",
    "phone",
    "email",
    "company",
    "industry",
    "state",
    "postal_code",
    "source",
    "external_id",
    "custom",
    "timezone",
)


# --- enrollment ---------------------------------------------------------------------------


@dataclass
class EnrollResult:
    created: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "skipped": dict(self.skipped)}


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
            "  WHERE m.device_id = d.id AND m.status = 'pending' "
            "  ORDER BY m.scheduled_at DESC LIMIT 1) FROM unnest(%s::bigint[]) d(id)",
            [[d.pk for d in devices]],
        )
        tails = dict(cursor.fetchall())
    plans = []
    for d in devices:
        pause = timedelta(seconds=(d.min_interval_seconds + d.max_interval_seconds) / 2)
        tail = tails.get(d.pk)
        tail = max(tail, now - pause) if tail else now - pause
        plans.append(_DevicePlan(d.pk, tail, pause, d.cap_for(now.date())))
    return plans


def _lead_dict(values) -> dict[str, Any]:
    """A row of ``LEAD_COLUMNS`` as the dict templates render from."""
    lead = dict(zip(LEAD_COLUMNS, values, strict=True))
    lead["custom"] = json_value(lead["custom"]) or {}
    return lead


def _batched(iterable: Iterable[int], size: int):
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
) -> EnrollResult:
    """Enroll leads in a sequence: one enrollment and one first message each. Idempotent.

    ``lead_ids`` may be any iterable (a generator over millions of ids): it is consumed in
    batches, each written in its own transaction with COPY, so memory stays constant. First
    sends are staggered over the devices' capacity and moved into the recipients' windows.
    Leads without a phone, suppressed, in a stop status or already enrolled are skipped.
    """
    sequence = Sequence.objects.filter(pk=sequence_id).first()
    if sequence is None:
        raise ApplicationError("No such sequence.", code="not_found", status_code=404)
    if not sequence.is_active:
        raise ApplicationError(f"Sequence {sequence.name} is not active.", code="inactive")
    first = sequence.steps.order_by("position").first()
    if first is None:
        raise ApplicationError(f"Sequence {sequence.name} has no steps.", code="no_steps")
    devices = _sequence_devices(sequence)
    if not devices:
        raise ApplicationError(f"Sequence {sequence.name} has no active device.", code="no_device")
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
            rows = _enroll_fetch(sequence, chunk)
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


def _enroll_fetch(sequence: Sequence, lead_ids: list[int]) -> list[tuple]:
    columns = ", ".join(f"l.{c}" for c in LEAD_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.id, l.workspace_id, l.status, {columns}, "
            "EXISTS (SELECT 1 FROM broadcast_enrollment e "
            "        WHERE e.sequence_id = %s AND e.lead_id = l.id), "
            f"{SUPPRESSED_SQL.format(phone='l.phone')} "
            "FROM leads_lead l WHERE l.id = ANY(%s) "
            "AND (l.workspace_id = %s OR l.destination_workspace_id = %s)",
            [sequence.pk, list(lead_ids), sequence.workspace_id, sequence.workspace_id],
        )
        return cursor.fetchall()


class _EnrollPlan:
    """Renders fetched leads into staged rows: device, first send time, body (no I/O)."""

    def __init__(
        self, sequence: Sequence, first: Step, plans: list, fallback_tz: str, now: datetime
    ) -> None:
        self.sequence, self.first, self.plans = sequence, first, plans
        self.fallback_tz, self.now = fallback_tz, now
        self.stop = set(sequence.stop_statuses or [])

    def stage(self, rows: list[tuple]) -> tuple[list[tuple], dict[str, int]]:
        sequence, first, plans = self.sequence, self.first, self.plans
        earliest = self.now + timedelta(minutes=first.delay_minutes)
        staged, skipped = [], defaultdict(int)
        n_cols = len(LEAD_COLUMNS)
        for row in rows:
            lead_id, workspace_id, status = row[0], row[1], row[2]
            lead = _lead_dict(row[3 : 3 + n_cols])
            enrolled, suppressed = row[3 + n_cols], row[4 + n_cols]
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
                values = lead_values(lead, sequence.placeholder_defaults)
                body = template_render(first.template, values)
                staged.append((lead_id, plan.device_id, workspace_id, lead["phone"], tz, at, body))
                heapq.heapreplace(plans, (plan.tail, plan.device_id, plan))
        return staged, skipped


def _enroll_write(plan: _EnrollPlan, staging, actor: str, result: EnrollResult) -> None:
    staged, skipped = staging
    for reason, n in skipped.items():
        result.skipped[reason] += n
    if not staged:
        return
    sequence, first = plan.sequence, plan.first
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS broadcast_enroll_stage (lead_id bigint, "
            "device_id bigint, workspace_id bigint, phone varchar(20), tz varchar(64), "
            "scheduled_at timestamptz, body text) ON COMMIT DELETE ROWS"
        )
        # Callers may batch inside one outer transaction (routing does): start empty.
        cursor.execute("TRUNCATE broadcast_enroll_stage")
        with cursor.cursor.copy(
            "COPY broadcast_enroll_stage (lead_id, device_id, workspace_id, phone, tz, "
            "scheduled_at, body) FROM STDIN"
        ) as copy:
            for row in staged:
                copy.write_row(row)
        cursor.execute(
            "WITH ins AS ("
            "  INSERT INTO broadcast_enrollment (sequence_id, lead_id, device_id, workspace_id,"
            "    phone, timezone, current_step, status, reason, created_at, updated_at)"
            "  SELECT %(seq)s, lead_id, device_id, workspace_id, phone, tz, %(step)s, 'active',"
            "    '', %(now)s, %(now)s FROM broadcast_enroll_stage"
            "  ON CONFLICT (lead_id, sequence_id) DO NOTHING RETURNING id, lead_id),"
            " msg AS ("
            "  INSERT INTO broadcast_message (scheduled_at, enrollment_id, step, device_id,"
            "    lead_id, body, media_url, status, attempts, gateway_id, error, created_at)"
            "  SELECT s.scheduled_at, ins.id, %(step)s, s.device_id, s.lead_id, s.body,"
            "    %(media)s, 'pending', 0, '', '', %(now)s"
            "  FROM ins JOIN broadcast_enroll_stage s USING (lead_id))"
            " INSERT INTO leads_leadevent (lead_id, created_at, kind, message, data, actor)"
            " SELECT ins.lead_id, %(now)s, 'enrolled', %(text)s,"
            "   jsonb_build_object('sequence_id', %(seq)s, 'enrollment_id', ins.id,"
            "                      'device_id', s.device_id), %(actor)s"
            " FROM ins JOIN broadcast_enroll_stage s USING (lead_id)",
            {
                "seq": sequence.pk,
                "step": first.position,
                "now": timezone.now(),
                "media": first.media_url,
                "text": f"Enrolled in sequence {sequence.name}",
                "actor": actor or "broadcast",
            },
        )
        created = cursor.rowcount
    result.created += created
    if created < len(staged):
        result.skipped["already_enrolled"] += len(staged) - created


# --- stopping -----------------------------------------------------------------------------


def _stop(where: str, params: list, *, reason: str, actor: str, status: str = "stopped") -> int:
    """Stop active enrollments matching ``where`` and cancel their pending message."""
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE broadcast_enrollment e SET status = %s, reason = %s, updated_at = %s "
            f"WHERE e.status = 'active' AND {where} RETURNING e.id, e.lead_id, e.sequence_id",
            [status, reason[:255], now, *params],
        )
        stopped = cursor.fetchall()
        if not stopped:
            return 0
        cursor.execute(
            "UPDATE broadcast_message SET status = 'cancelled', error = %s "
            "WHERE status = 'pending' AND enrollment_id = ANY(%s)",
            [reason[:500], [row[0] for row in stopped]],
        )
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead_id,
                    kind=LeadEvent.Kind.ENROLLMENT_STOPPED,
                    message=f"Sequence stopped: {reason}",
                    actor=actor or "broadcast",
                    data={"enrollment_id": eid, "sequence_id": seq_id},
                    at=now,
                )
                for eid, lead_id, seq_id in stopped
            ]
        )
    return len(stopped)


def enrollment_stop(*, enrollment_id: int, reason: str, actor: str = "") -> int:
    return _stop("e.id = %s", [enrollment_id], reason=reason, actor=actor)


def enrollment_stop_for_leads(
    *, lead_ids: Iterable[int], reason: str, actor: str = "", only_stop_on_reply: bool = False
) -> int:
    """Stop every active enrollment of these leads (DNC, sale, opt-out). Returns the count."""
    ids = list(lead_ids)
    if not ids:
        return 0
    where = "e.lead_id = ANY(%s)"
    if only_stop_on_reply:
        where += " AND e.sequence_id IN (SELECT id FROM broadcast_sequence WHERE stop_on_reply)"
    return _stop(where, [ids], reason=reason, actor=actor)


def enrollment_stop_many(*, enrollment_ids: Iterable[int], reason: str, actor: str = "") -> int:
    return _stop("e.id = ANY(%s)", [list(enrollment_ids)], reason=reason, actor=actor)


# --- devices ------------------------------------------------------------------------------


def _alert(device_id: int, text: str) -> None:
    alerts.error("broadcast device %s: %s", device_id, text)
    from broadcast import metrics

    metrics.device_alerts.inc()


def devices_set_status(
    *, device_ids: Iterable[int], status: str, reason: str = "", actor: str = ""
) -> int:
    """Pause, resume, mark disconnected or banned, in one UPDATE. Resuming clears the failure
    count. Returns how many devices changed."""
    ids = list(device_ids)
    fields = {"status": status, "status_reason": reason[:500]}
    if status == Device.Status.ACTIVE:
        fields.update(consecutive_failures=0, lease_until=None)
    changed = Device.objects.filter(pk__in=ids).update(**fields, updated_at=timezone.now())
    if status in (Device.Status.DISCONNECTED, Device.Status.BANNED):
        for device_id in ids:
            _alert(device_id, f"{status}: {reason}")
    logger.info("devices %s -> %s (%s) by %s", ids, status, reason, actor or "system")
    return changed


def device_set_status(*, device: Device, status: str, reason: str = "", actor: str = "") -> Device:
    devices_set_status(device_ids=[device.pk], status=status, reason=reason, actor=actor)
    device.refresh_from_db()
    return device


# --- dispatcher ---------------------------------------------------------------------------


@dataclass
class Claim:
    message_id: int
    scheduled_at: datetime
    enrollment_id: int
    lead_id: int
    step: int
    body: str
    media_url: str
    phone: str
    device: dict[str, Any]
    slot: float  # epoch seconds: not before this
    attempts: int = 1  # including this one


@dataclass
class Outcome:
    claim: Claim
    started: float  # when the request left: the message's sent_at
    finished: float = 0.0  # when the gateway answered: the device's pause counts from here
    gateway_id: str = ""
    error: GatewayError | None = None


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    rescheduled: int = 0


_DEVICE_COLUMNS = (
    "id",
    "gateway_kind",
    "gateway_url",
    "gateway_session",
    "gateway_token",
    "min_interval_seconds",
    "max_interval_seconds",
    "daily_cap",
    "warmup_days",
    "active_since",
    "sent_on",
    "sent_today",
    "next_send_at",
)

DUE_SQL = (
    "SELECT {device_cols}, m.id, m.scheduled_at, m.enrollment_id, m.lead_id, m.step, m.body, "
    "m.media_url, m.attempts FROM broadcast_device d CROSS JOIN LATERAL ("
    "  SELECT id, scheduled_at, enrollment_id, lead_id, step, body, media_url, attempts "
    "  FROM broadcast_message m WHERE m.device_id = d.id AND m.status = 'pending' "
    "  AND m.scheduled_at <= %(horizon)s ORDER BY m.scheduled_at LIMIT 1) m "
    "WHERE d.status = 'active' AND d.next_send_at <= %(horizon)s AND d.lease_until IS NULL "
    "ORDER BY d.next_send_at LIMIT %(limit)s FOR UPDATE OF d SKIP LOCKED"
).format(device_cols=", ".join(f"d.{c}" for c in _DEVICE_COLUMNS))


def dispatch_claim(
    *,
    limit: int,
    lookahead: float = 0.0,
    now: datetime | None = None,
    stats: DispatchStats | None = None,
) -> list[Claim]:
    """Claim up to ``limit`` devices whose turn comes within ``lookahead`` seconds, with the
    earliest due message of each; re-check consent and windows; lease the devices."""
    stats = stats or DispatchStats()
    now = now or timezone.now()
    horizon = now + timedelta(seconds=lookahead)
    n = len(_DEVICE_COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(DUE_SQL, {"horizon": horizon, "limit": limit})
        rows = cursor.fetchall()
        if not rows:
            return []
        checks = _consent(cursor, [row[n + 2] for row in rows])
        today = now.date()
        claims: list[Claim] = []
        capped, cancel, stop, moves = [], [], [], []
        for row in rows:
            device = dict(zip(_DEVICE_COLUMNS, row[:n], strict=True))
            mid, sched, eid, lead_id, step, body, media, attempts = row[n:]
            sent = device["sent_today"] if device["sent_on"] == today else 0
            cap = daily_cap_on(
                today, device["daily_cap"], device["warmup_days"], device["active_since"]
            )
            if sent >= cap:
                capped.append((device["id"], _next_day(now)))
                continue
            check = checks.get(eid)
            verdict = _verdict(check)
            if verdict == CANCEL:
                cancel.append((mid, sched))
                continue
            if verdict:
                stop.append((eid, verdict))
                continue
            if not check["sequence_active"]:
                moves.append((mid, sched, now + timedelta(minutes=15)))
                continue
            send_at = max(sched, device["next_send_at"] or now, now)
            tz, start, end = check["timezone"], check["window_start"], check["window_end"]
            if not in_window(send_at, tz, start, end):
                moves.append((mid, sched, window_next(send_at, tz, start, end)))
                continue
            claims.append(
                Claim(
                    mid,
                    sched,
                    eid,
                    lead_id,
                    step,
                    body,
                    media,
                    check["phone"],
                    device,
                    send_at.timestamp(),
                    attempts + 1,
                )
            )
        if capped:
            cursor.execute(
                "UPDATE broadcast_device d SET next_send_at = k.at FROM "
                "unnest(%s::bigint[], %s::timestamptz[]) k(id, at) WHERE d.id = k.id",
                unnest_columns(capped),
            )
        if cancel:
            cursor.execute(
                "UPDATE broadcast_message m SET status = 'cancelled' FROM "
                "unnest(%s::bigint[], %s::timestamptz[]) k(id, at) "
                "WHERE m.id = k.id AND m.scheduled_at = k.at AND m.status = 'pending'",
                unnest_columns(cancel),
            )
        if moves:
            cursor.execute(
                "UPDATE broadcast_message m SET scheduled_at = k.new FROM "
                "unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) k(id, at, new) "
                "WHERE m.id = k.id AND m.scheduled_at = k.at AND m.status = 'pending'",
                unnest_columns(moves),
            )
        if claims:
            cursor.execute(
                "UPDATE broadcast_message m SET status = 'sending', attempts = m.attempts + 1 "
                "FROM unnest(%s::bigint[], %s::timestamptz[]) k(id, at) "
                "WHERE m.id = k.id AND m.scheduled_at = k.at",
                unnest_columns([(c.message_id, c.scheduled_at) for c in claims]),
            )
            cursor.execute(
                "UPDATE broadcast_device SET lease_until = %s WHERE id = ANY(%s)",
                [
                    now + timedelta(seconds=settings.BROADCAST_LEASE_SECONDS),
                    [c.device["id"] for c in claims],
                ],
            )
        for reason in {why for _, why in stop}:
            enrollment_stop_many(
                enrollment_ids=[e for e, w in stop if w == reason],
                reason=reason,
                actor="broadcast:consent",
            )
    stats.claimed += len(claims)
    stats.skipped += len(cancel) + len(stop)
    stats.rescheduled += len(moves)
    return claims


def dispatch_recheck(claims: list[Claim], stats: DispatchStats | None = None) -> list[Claim]:
    """Consent once more just before sending: a claim waited for its device's turn (up to
    the lookahead), and an opt-out, a stop or a closing status may have landed meanwhile.
    Returns the claims still good; the others are not sent and free their device."""
    if not claims:
        return []
    with transaction.atomic(), connection.cursor() as cursor:
        checks = _consent(cursor, [c.enrollment_id for c in claims])
        good, cancel, stop = [], [], []
        for c in claims:
            verdict = _verdict(checks.get(c.enrollment_id))
            if verdict == CANCEL:
                cancel.append(c)
            elif verdict:
                stop.append((c, verdict))
            else:
                good.append(c)
        dropped = cancel + [c for c, _ in stop]
        if not dropped:
            return good
        cursor.execute(
            "UPDATE broadcast_message m SET status = 'cancelled', error = 'stopped before sending' "
            "FROM unnest(%s::bigint[], %s::timestamptz[]) k(id, at) "
            "WHERE m.id = k.id AND m.scheduled_at = k.at AND m.status = 'sending'",
            unnest_columns([(c.message_id, c.scheduled_at) for c in dropped]),
        )
        cursor.execute(
            "UPDATE broadcast_device SET lease_until = NULL WHERE id = ANY(%s)",
            [[c.device["id"] for c in dropped]],
        )
        for reason in {why for _, why in stop}:
            enrollment_stop_many(
                enrollment_ids=[c.enrollment_id for c, w in stop if w == reason],
                reason=reason,
                actor="broadcast:consent",
            )
    if stats is not None:
        stats.skipped += len(dropped)
    return good


def _next_day(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


CANCEL = "cancel"


def _verdict(check: dict[str, Any] | None) -> str:
    """'' to send; CANCEL when the enrollment is no longer active; else why to stop it."""
    if check is None or check["enrollment_status"] != Enrollment.Status.ACTIVE:
        return CANCEL
    if check["suppressed"]:
        return "suppressed"
    if check["lead_status"] in check["stop_statuses"]:
        return f"lead is {check['lead_status']}"
    return ""


# Is the lead (alias l; its phone in ``{phone}``) on a do-not-contact list that applies?
SUPPRESSED_SQL = (
    "EXISTS (SELECT 1 FROM leads_suppression x WHERE "
    "(x.workspace_id IS NULL OR x.workspace_id = l.workspace_id) AND "
    "((x.kind = 'phone' AND x.value = {phone}) OR "
    "(x.kind = 'email' AND l.email <> '' AND x.value = l.email)))"
)


def _consent(cursor, enrollment_ids: list[int]) -> dict[int, dict[str, Any]]:
    cursor.execute(
        "SELECT e.id, e.status, e.timezone, e.phone, l.status, s.window_start, s.window_end, "
        f"s.stop_statuses, s.is_active, {SUPPRESSED_SQL.format(phone='e.phone')} "
        "FROM broadcast_enrollment e JOIN broadcast_sequence s ON s.id = e.sequence_id "
        "LEFT JOIN leads_lead l ON l.id = e.lead_id WHERE e.id = ANY(%s)",
        [enrollment_ids],
    )
    keys = (
        "enrollment_status",
        "timezone",
        "phone",
        "lead_status",
        "window_start",
        "window_end",
        "stop_statuses",
        "sequence_active",
        "suppressed",
    )
    found = {}
    for row in cursor.fetchall():
        check = dict(zip(keys, row[1:], strict=True))
        check["stop_statuses"] = set(json_value(check["stop_statuses"]) or [])
        found[row[0]] = check
    return found


def _send(claim: Claim, sessions: dict[str, requests.Session], lock: threading.Lock) -> Outcome:
    device = claim.device
    with lock:
        http = sessions.get(device["gateway_url"])
        if http is None:
            http = build_session(
                HttpPolicy(timeout=settings.BROADCAST_GATEWAY_TIMEOUT, retries=1, pool_size=64)
            )
            sessions[device["gateway_url"]] = http
    client = client_for(_DeviceView(device), http=http)
    started = time.time()
    if started < claim.slot:  # never early, whatever the pool did
        time.sleep(claim.slot - started)
        started = time.time()
    try:
        result = client.send(phone=claim.phone, text=claim.body, media_url=claim.media_url)
    except GatewayError as exc:
        return Outcome(claim, started, time.time(), error=exc)
    except Exception as exc:  # a bug or an unexpected answer: retry, never lose the message
        logger.exception("send of message %s failed", claim.message_id)
        return Outcome(claim, started, time.time(), error=GatewayError(repr(exc), retryable=True))
    return Outcome(claim, started, time.time(), gateway_id=result.gateway_id)


class _DeviceView:
    def __init__(self, device: dict) -> None:
        self.gateway_kind = device["gateway_kind"]
        self.gateway_url = device["gateway_url"]
        self.gateway_session = device["gateway_session"]
        self.gateway_token = device["gateway_token"]


def dispatch_record(outcomes: list[Outcome], stats: DispatchStats | None = None) -> None:
    """Write the results of sends: message states, device pacing and health, successors."""
    stats = stats or DispatchStats()
    if not outcomes:
        return
    now = timezone.now()
    max_attempts = settings.BROADCAST_MAX_ATTEMPTS
    max_failures = settings.BROADCAST_DEVICE_MAX_FAILURES
    msg_rows, dev_rows, sent, failed_enrollments, events = [], [], [], [], []
    for o in outcomes:
        c, d = o.claim, o.claim.device
        started = datetime.fromtimestamp(o.started, tz=UTC)
        pause = random.uniform(d["min_interval_seconds"], d["max_interval_seconds"])
        # From the answer, not the request: however long the request took to reach the
        # gateway, the next one reaches it at least ``pause`` after this one did.
        next_at = datetime.fromtimestamp(max(o.finished, o.started), tz=UTC) + timedelta(
            seconds=pause
        )
        err = o.error
        if err is None:
            msg_rows.append(
                (c.message_id, c.scheduled_at, "sent", c.scheduled_at, started, o.gateway_id, "")
            )
            dev_rows.append((d["id"], next_at, True, False, "", "", started))
            sent.append(o)
            events.append(
                EventSpec(
                    lead_id=c.lead_id,
                    kind=LeadEvent.Kind.MESSAGE_SENT,
                    message=c.body[:200],
                    actor=f"device:{d['id']}",
                    at=started,
                    data={"message_id": c.message_id, "step": c.step, "gateway_id": o.gateway_id},
                )
            )
            continue
        text = (err.message or repr(err))[:1000]
        new_status = ""
        if isinstance(err, GatewaySessionDown):
            new_status = Device.Status.BANNED if err.banned else Device.Status.DISCONNECTED
        if isinstance(err, GatewayRejected):
            msg_rows.append(
                (c.message_id, c.scheduled_at, "failed", c.scheduled_at, None, "", text)
            )
            failed_enrollments.append((c.enrollment_id, c.lead_id, text))
            dev_rows.append((d["id"], next_at, False, False, "", text, None))
            stats.failed += 1
            continue
        if err.retryable and c.attempts < max_attempts:
            backoff = jittered_backoff(c.attempts, base=settings.BROADCAST_RETRY_BASE_SECONDS)
            retry_at = now + backoff
            msg_rows.append((c.message_id, c.scheduled_at, "pending", retry_at, None, "", text))
            stats.retried += 1
        else:
            msg_rows.append(
                (c.message_id, c.scheduled_at, "failed", c.scheduled_at, None, "", text)
            )
            failed_enrollments.append((c.enrollment_id, c.lead_id, text))
            stats.failed += 1
        dev_rows.append((d["id"], next_at, False, True, new_status, text, None))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE broadcast_message m SET status = k.status, scheduled_at = k.new_at, "
            "sent_at = k.sent_at, gateway_id = k.gw, error = k.err FROM unnest("
            "%s::bigint[], %s::timestamptz[], %s::varchar[], %s::timestamptz[], "
            "%s::timestamptz[], %s::varchar[], %s::text[]) k(id, at, status, new_at, sent_at, "
            "gw, err) WHERE m.id = k.id AND m.scheduled_at = k.at",
            unnest_columns(msg_rows),
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
            "last_error_at = CASE WHEN k.err <> '' THEN %s ELSE d.last_error_at END, "
            "status = CASE WHEN d.status <> 'active' THEN d.status "
            "  WHEN k.new_status <> '' THEN k.new_status "
            "  WHEN k.failure AND d.consecutive_failures + 1 >= %s THEN 'paused' "
            "  ELSE d.status END, "
            "status_reason = CASE WHEN d.status <> 'active' THEN d.status_reason "
            "  WHEN k.new_status <> '' THEN k.err "
            "  WHEN k.failure AND d.consecutive_failures + 1 >= %s "
            "  THEN 'paused after ' || (d.consecutive_failures + 1) || ' failed sends: ' || k.err "
            "  ELSE d.status_reason END "
            "FROM unnest(%s::bigint[], %s::timestamptz[], %s::boolean[], %s::boolean[], "
            "%s::varchar[], %s::text[], %s::timestamptz[]) "
            "k(id, next_at, sent, failure, new_status, err, sent_at) "
            "WHERE d.id = k.id RETURNING d.id, d.status, d.status_reason",
            [now, max_failures, max_failures, *unnest_columns(dev_rows)],
        )
        changed = [(i, s, r) for i, s, r in cursor.fetchall() if s != Device.Status.ACTIVE]
        if sent:
            events += _write_successors(cursor, sent, now)
        if failed_enrollments:
            cursor.execute(
                "UPDATE broadcast_enrollment SET status = 'failed', reason = k.reason, "
                "updated_at = %s FROM unnest(%s::bigint[], %s::varchar[]) k(id, reason) "
                "WHERE broadcast_enrollment.id = k.id AND status = 'active' "
                "RETURNING broadcast_enrollment.id, lead_id, sequence_id, k.reason",
                [
                    now,
                    [e for e, _, _ in failed_enrollments],
                    [r[:255] for _, _, r in failed_enrollments],
                ],
            )
            events += [
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
        lead_events_record(events=events)
    stats.sent += len(sent)
    for device_id, status, reason in changed:
        _alert(device_id, f"{status}: {reason}")


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


def _write_successors(cursor, sent: list[Outcome], now: datetime) -> list[EventSpec]:
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
        lead = _lead_dict(row[3:])
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
                pool.submit(_send, claim, sessions, lock).add_done_callback(finished)
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


# --- gateway events -----------------------------------------------------------------------

ACK_RANK = {"pending": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4}


def gateway_event_apply(*, device: Device, event: GatewayEvent) -> dict[str, Any]:
    """Apply one webhook event of a device. Idempotent; acks only move a message forward."""
    if event.kind == "ack":
        return _apply_ack(device, event)
    if event.kind == "message":
        return _apply_inbound(device, event)
    if event.kind == "session":
        return _apply_session(device, event)
    return {"ignored": True}


def _apply_ack(device: Device, event: GatewayEvent) -> dict[str, Any]:
    at = event.at or timezone.now()
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(device_id=device.pk, gateway_id=event.gateway_id)
            .first()
        )
        if message is None:
            return {"matched": False}
        if event.ack == "failed":
            if message.status in ("sent", "sending"):
                message.status, message.error = Message.Status.FAILED, "gateway: delivery failed"
                message.save(update_fields=["status", "error"])
                Device.objects.filter(pk=device.pk).update(
                    last_error=f"message {message.pk} failed to deliver", last_error_at=at
                )
                lead_events_record(
                    events=[
                        EventSpec(
                            lead_id=message.lead_id,
                            kind=LeadEvent.Kind.MESSAGE_STATUS,
                            message=f"Message step {message.step} was not delivered",
                            actor=f"device:{device.pk}",
                            at=at,
                            data={"message_id": message.pk, "status": "failed"},
                        )
                    ]
                )
            return {"matched": True, "status": message.status}
        changed = []
        if event.ack in ("delivered", "read") and message.delivered_at is None:
            message.delivered_at = at
            changed.append("delivered_at")
        if event.ack == "read" and message.read_at is None:
            message.read_at = at
            changed.append("read_at")
        if ACK_RANK.get(event.ack, 0) > ACK_RANK.get(message.status, 99):
            message.status = event.ack
            changed.append("status")
        if changed:
            message.save(update_fields=changed)
    return {"matched": True, "status": message.status}


def is_opt_out(body: str) -> bool:
    words = body.strip().upper().strip(".!").split()
    return bool(words) and (
        " ".join(words) in settings.BROADCAST_OPT_OUT_KEYWORDS
        or (len(words) <= 3 and words[0] in settings.BROADCAST_OPT_OUT_KEYWORDS)
    )


def _apply_inbound(device: Device, event: GatewayEvent) -> dict[str, Any]:
    lead_ids = list(
        Enrollment.objects.filter(device_id=device.pk, phone=event.sender)
        .order_by("-id")
        .values_list("lead_id", flat=True)[:50]
    )
    if not lead_ids:
        lead_ids = list(
            Lead.objects.filter(workspace_id=device.workspace_id, phone=event.sender).values_list(
                "id", flat=True
            )[:50]
        )
    if not lead_ids:
        logger.info("inbound message on device %s from unknown %s", device.pk, event.sender)
        return {"matched": False}
    lead_ids = sorted(set(lead_ids))
    if (
        event.gateway_id
        and LeadEvent.objects.filter(
            lead_id__in=lead_ids,
            kind=LeadEvent.Kind.MESSAGE_RECEIVED,
            data__gateway_id=event.gateway_id,
        ).exists()
    ):
        return {"matched": True, "duplicate": True}  # the gateway delivered it again
    opt_out = is_opt_out(event.body)
    with transaction.atomic():
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead_id,
                    kind=LeadEvent.Kind.MESSAGE_RECEIVED,
                    message=event.body[:1000],
                    actor=f"device:{device.pk}",
                    at=event.at,
                    data={"gateway_id": event.gateway_id, "from": event.sender},
                )
                for lead_id in lead_ids
            ]
        )
        if opt_out:
            lead_opt_out(
                lead_ids=lead_ids,
                reason=f"opt-out keyword: {event.body[:50]}",
                actor=f"device:{device.pk}",
            )
            return {"matched": True, "opt_out": True}
        stopped = enrollment_stop_for_leads(
            lead_ids=lead_ids,
            reason="replied",
            actor=f"device:{device.pk}",
            only_stop_on_reply=True,
        )
    return {"matched": True, "opt_out": False, "stopped": stopped}


def lead_opt_out(*, lead_ids: list[int], reason: str, actor: str) -> None:
    """Opted out: suppress every channel (phone and email), stop every sequence, mark DNC."""
    leads = list(
        Lead.objects.filter(id__in=lead_ids).values_list("id", "workspace_id", "phone", "email")
    )
    entries = []
    for _, workspace_id, phone, email in leads:
        if phone:
            entries.append((Suppression.Kind.PHONE, phone, workspace_id))
        if email:
            entries.append((Suppression.Kind.EMAIL, email, workspace_id))
    with transaction.atomic():
        suppression_add_many(entries=entries, reason=reason, source="opt-out")
        enrollment_stop_for_leads(lead_ids=lead_ids, reason="opted out", actor=actor)
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead_id, kind=LeadEvent.Kind.OPTED_OUT, message=reason, actor=actor
                )
                for lead_id, *_ in leads
            ]
        )
        lead_status_set(
            lead_ids=[lead[0] for lead in leads], status=Lead.Status.DNC, reason=reason, actor=actor
        )


def _apply_session(device: Device, event: GatewayEvent) -> dict[str, Any]:
    status = event.session_status
    current = device.status
    if status == Device.Status.ACTIVE:
        if current == Device.Status.DISCONNECTED:  # reconnected; pauses and bans stay manual
            device_set_status(
                device=device,
                status=Device.Status.ACTIVE,
                reason="session working again",
                actor="gateway",
            )
    elif status != current and current != Device.Status.BANNED:
        device_set_status(
            device=device,
            status=status,
            reason=f"gateway session {event.raw.get('payload', {}).get('status')}",
            actor="gateway",
        )
    device.refresh_from_db(fields=["status"])
    return {"device_status": device.status}
