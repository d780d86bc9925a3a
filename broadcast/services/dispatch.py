"""One round of the dispatcher: claim due devices with their earliest due message
(consent and windows checked in the same claim), re-check consent just before the send,
send one message through the device's gateway, record a batch of outcomes.

Set-based: one query claims a batch, a fixed handful writes it, whatever its size.
"""

import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from broadcast.client import GatewayError, GatewayRejected, GatewaySessionDown, client_for
from broadcast.models import Device, daily_cap_on
from broadcast.scheduling import in_window, window_next
from broadcast.services.consent import CANCEL, consent_read, consent_verdict
from broadcast.services.devices import device_alert
from broadcast.services.enrollment import enrollment_stop_many
from broadcast.services.successors import successors_write
from core.backoff import jittered_backoff
from core.db import unnest_columns
from core.http import HttpPolicy, build_session
from leads.models import LeadEvent
from leads.services import EventSpec, lead_events_record

logger = logging.getLogger(__name__)


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
        checks = consent_read(cursor, [row[n + 2] for row in rows])
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
            verdict = consent_verdict(check)
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
        checks = consent_read(cursor, [c.enrollment_id for c in claims])
        good, cancel, stop = [], [], []
        for c in claims:
            verdict = consent_verdict(checks.get(c.enrollment_id))
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


def dispatch_send(
    claim: Claim, sessions: dict[str, requests.Session], lock: threading.Lock
) -> Outcome:
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
            events += successors_write(cursor, sent, now)
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
        device_alert(device_id, f"{status}: {reason}")
