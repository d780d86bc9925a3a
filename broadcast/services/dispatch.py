"""The way out of the dispatcher: claim due devices with their earliest due message
(consent, caps and windows checked in the same claim), re-check consent just before the
send (and mark the attempt), send one message through the device's gateway, or find it
there when an earlier attempt's outcome is unknown (``verify``). ``record`` writes what
came back.

Set-based: one query claims a batch and a fixed handful write it, whatever its size.
"""

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from broadcast.client import GatewayError, client_for
from broadcast.models import Device, Message, daily_cap_on
from broadcast.scheduling import in_window, window_next
from broadcast.services.consent import CANCEL, consent_read, consent_verdict
from broadcast.services.stopping import enrollment_stop_many
from broadcast.services.verify import attempts_mark, known_ids_read, sent_found
from core.db import unnest_columns
from core.http import HttpPolicy, build_session

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
    # An earlier attempt left for the gateway then (its outcome unknown): look it up first.
    attempted_at: datetime | None = None
    known_ids: frozenset[str] = frozenset()  # gateway ids of the lead's other messages


@dataclass
class Outcome:
    claim: Claim
    started: float  # when the request left: the message's sent_at
    finished: float = 0.0  # when the gateway answered: the device's pause counts from here
    gateway_id: str = ""
    error: GatewayError | None = None
    found: bool = False  # an earlier attempt had reached the gateway: recorded, not resent


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    rescheduled: int = 0
    found: int = 0  # sends of unknown outcome found on the gateway (counted in ``sent`` too)


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
    "last_sent_at",  # the pacing SLO: a send closer than the minimum interval is a violation
)

DUE_SQL = (
    "SELECT {device_cols}, m.id, m.scheduled_at, m.enrollment_id, m.lead_id, m.step, m.body, "
    "m.media_url, m.attempts, m.attempted_at FROM broadcast_device d CROSS JOIN LATERAL ("
    "  SELECT id, scheduled_at, enrollment_id, lead_id, step, body, media_url, attempts, "
    "  attempted_at "
    "  FROM broadcast_message m WHERE m.device_id = d.id AND m.status = %(pending)s "
    "  AND m.scheduled_at <= %(horizon)s ORDER BY m.scheduled_at LIMIT 1) m "
    "WHERE d.status = %(active)s AND d.next_send_at <= %(horizon)s AND d.lease_until IS NULL "
    "ORDER BY d.next_send_at LIMIT %(limit)s FOR UPDATE OF d SKIP LOCKED"
).format(device_cols=", ".join(f"d.{c}" for c in _DEVICE_COLUMNS))


@dataclass
class _ClaimPlan:
    """The due rows of one claim, sorted by what happens to them; each list is one write."""

    claims: list[Claim] = field(default_factory=list)
    capped: list[tuple[int, datetime]] = field(default_factory=list)  # device, next turn
    cancel: list[tuple[int, datetime]] = field(default_factory=list)  # message key
    stop: list[tuple[int, str]] = field(default_factory=list)  # enrollment, reason
    moves: list[tuple[int, datetime, datetime]] = field(default_factory=list)  # key, new time


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
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            DUE_SQL,
            {
                "horizon": horizon,
                "limit": limit,
                "pending": Message.Status.PENDING,
                "active": Device.Status.ACTIVE,
            },
        )
        rows = cursor.fetchall()
        if not rows:
            return []
        checks = consent_read(cursor, [row[len(_DEVICE_COLUMNS) + 2] for row in rows])
        plan = _ClaimPlan()
        for row in rows:
            _claim_sort(plan, row, checks, now)
        _claim_write(cursor, plan, now)
        known_ids_read(cursor, plan.claims)
        _stop_without_consent(plan.stop)
    stats.claimed += len(plan.claims)
    stats.skipped += len(plan.cancel) + len(plan.stop)
    stats.rescheduled += len(plan.moves)
    return plan.claims


def _claim_sort(
    plan: _ClaimPlan, row: tuple[Any, ...], checks: dict[int, dict[str, Any]], now: datetime
) -> None:
    """One due row: its device is over today's cap, its message is not to be sent (cancel,
    stop), or not now (a paused sequence, outside the recipient's window), or it is claimed."""
    n = len(_DEVICE_COLUMNS)
    device = dict(zip(_DEVICE_COLUMNS, row[:n], strict=True))
    mid, sched, eid, lead_id, step, body, media, attempts, attempted_at = row[n:]
    today = now.date()
    sent = device["sent_today"] if device["sent_on"] == today else 0
    cap = daily_cap_on(today, device["daily_cap"], device["warmup_days"], device["active_since"])
    if sent >= cap:
        plan.capped.append((device["id"], _next_day(now)))
        return
    check = checks.get(eid)
    verdict = consent_verdict(check)
    if verdict == CANCEL:
        plan.cancel.append((mid, sched))
        return
    if verdict:
        plan.stop.append((eid, verdict))
        return
    assert check is not None  # no row: the verdict was CANCEL
    if not check["sequence_active"]:
        plan.moves.append((mid, sched, now + timedelta(minutes=15)))
        return
    send_at = max(sched, device["next_send_at"] or now, now)
    tz, start, end = check["timezone"], check["window_start"], check["window_end"]
    if not in_window(send_at, tz, start, end):
        plan.moves.append((mid, sched, window_next(send_at, tz, start, end)))
        return
    slot = send_at.timestamp()
    claim = Claim(mid, sched, eid, lead_id, step, body, media, check["phone"], device, slot)
    claim.attempts, claim.attempted_at = attempts + 1, attempted_at
    plan.claims.append(claim)


def _claim_write(cursor: CursorWrapper, plan: _ClaimPlan, now: datetime) -> None:
    """One UPDATE per kind of decision, whatever the number of rows."""
    if plan.capped:
        cursor.execute(
            "UPDATE broadcast_device d SET next_send_at = k.at FROM "
            "unnest(%s::bigint[], %s::timestamptz[]) k(id, at) WHERE d.id = k.id",
            unnest_columns(plan.capped),
        )
    if plan.cancel:
        cursor.execute(
            "UPDATE broadcast_message m SET status = %s FROM "
            "unnest(%s::bigint[], %s::timestamptz[]) k(id, at) "
            "WHERE m.id = k.id AND m.scheduled_at = k.at AND m.status = %s",
            [Message.Status.CANCELLED, *unnest_columns(plan.cancel), Message.Status.PENDING],
        )
    if plan.moves:
        cursor.execute(
            "UPDATE broadcast_message m SET scheduled_at = k.new FROM "
            "unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) k(id, at, new) "
            "WHERE m.id = k.id AND m.scheduled_at = k.at AND m.status = %s",
            [*unnest_columns(plan.moves), Message.Status.PENDING],
        )
    if plan.claims:
        _claims_lease(cursor, plan.claims, now)


def _claims_lease(cursor: CursorWrapper, claims: list[Claim], now: datetime) -> None:
    """The claimed messages are in flight and their devices leased (until the send is
    recorded, or the lease runs out and ``dispatch_recover`` takes them back)."""
    cursor.execute(
        "UPDATE broadcast_message m SET status = %s, attempts = m.attempts + 1 "
        "FROM unnest(%s::bigint[], %s::timestamptz[]) k(id, at) "
        "WHERE m.id = k.id AND m.scheduled_at = k.at",
        [
            Message.Status.SENDING,
            *unnest_columns([(c.message_id, c.scheduled_at) for c in claims]),
        ],
    )
    cursor.execute(
        "UPDATE broadcast_device SET lease_until = %s WHERE id = ANY(%s)",
        [
            now + timedelta(seconds=settings.BROADCAST_LEASE_SECONDS),
            [c.device["id"] for c in claims],
        ],
    )


def _stop_without_consent(stop: list[tuple[int, str]]) -> None:
    """Stop the enrollments whose consent is gone: one ``enrollment_stop_many`` per reason."""
    for reason in {why for _, why in stop}:
        enrollment_stop_many(
            enrollment_ids=[e for e, w in stop if w == reason],
            reason=reason,
            actor="broadcast:consent",
        )


def dispatch_recheck(claims: list[Claim], stats: DispatchStats | None = None) -> list[Claim]:
    """Consent once more just before sending: a claim waited for its device's turn (up to
    the lookahead), and an opt-out, a stop or a closing status may have landed meanwhile.
    Returns the claims still good, their attempts marked (committed before any request
    leaves: a lost outcome is then looked up, not resent); the others are not sent and
    free their device."""
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
        attempts_mark(cursor, good)
        dropped = cancel + [c for c, _ in stop]
        if not dropped:
            return good
        cursor.execute(
            "UPDATE broadcast_message m SET status = %s, error = 'stopped before sending' "
            "FROM unnest(%s::bigint[], %s::timestamptz[]) k(id, at) "
            "WHERE m.id = k.id AND m.scheduled_at = k.at AND m.status = %s",
            [
                Message.Status.CANCELLED,
                *unnest_columns([(c.message_id, c.scheduled_at) for c in dropped]),
                Message.Status.SENDING,
            ],
        )
        cursor.execute(
            "UPDATE broadcast_device SET lease_until = NULL WHERE id = ANY(%s)",
            [[c.device["id"] for c in dropped]],
        )
        _stop_without_consent([(c.enrollment_id, why) for c, why in stop])
    if stats is not None:
        stats.skipped += len(dropped)
    return good


def dispatch_release(claims: list[Claim]) -> None:
    """Claims that will not be sent by this dispatcher (it is ending): their messages go back
    to pending (the attempt did not happen) and their devices are free at once."""
    if not claims:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE broadcast_message m SET status = %s, attempts = m.attempts - 1 "
            "FROM unnest(%s::bigint[], %s::timestamptz[]) k(id, at) "
            "WHERE m.id = k.id AND m.scheduled_at = k.at AND m.status = %s",
            [
                Message.Status.PENDING,
                *unnest_columns([(c.message_id, c.scheduled_at) for c in claims]),
                Message.Status.SENDING,
            ],
        )
        cursor.execute(
            "UPDATE broadcast_device SET lease_until = NULL WHERE id = ANY(%s)",
            [[c.device["id"] for c in claims]],
        )


def _next_day(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def dispatch_send(
    claim: Claim, sessions: dict[str, requests.Session], lock: threading.Lock
) -> Outcome:
    """Send one claimed message when its slot comes. Runs on a pool thread: HTTP only, no
    database (the outcome is recorded by the loop's thread); one keep-alive session per
    gateway URL, shared by the threads."""
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
        found = sent_found(client, claim)
        if found is not None:  # an earlier attempt reached the gateway: never send twice
            at = found.at.timestamp() if found.at else started
            return Outcome(claim, at, time.time(), gateway_id=found.gateway_id, found=True)
        result = client.send(phone=claim.phone, text=claim.body, media_url=claim.media_url)
    except GatewayError as exc:
        return Outcome(claim, started, time.time(), error=exc)
    except Exception as exc:  # a bug or an unexpected answer: retry, never lose the message
        logger.exception("send of message %s failed", claim.message_id)
        return Outcome(claim, started, time.time(), error=GatewayError(repr(exc), retryable=True))
    return Outcome(claim, started, time.time(), gateway_id=result.gateway_id)


class _DeviceView:
    def __init__(self, device: dict[str, Any]) -> None:
        self.gateway_kind = device["gateway_kind"]
        self.gateway_url = device["gateway_url"]
        self.gateway_session = device["gateway_session"]
        self.gateway_token = device["gateway_token"]
