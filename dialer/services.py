"""Dialer services: the outbox of VICIdial operations and its drain.

Routing enqueues inside its own transaction (``outbox_enqueue_add`` / ``_move``); a drain
per server claims due items with ``FOR UPDATE SKIP LOCKED`` under a lease (a crashed drain's
items come back after ``DIALER_LEASE_SECONDS``), sends them with bounded concurrency within
the server's hourly call budget, and records the results set-wise. ``add_lead`` always
carries our lead id as ``vendor_lead_code`` and a duplicate check, so a retry after a lost
answer finds the lead VICIdial already has instead of adding it twice.
"""

import base64
import hashlib
import json
import logging
import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.backoff import jittered_backoff
from core.db import json_value, unnest_columns
from core.errors import ApplicationError, ClientError
from dialer.client import (
    AddLeadResult,
    UpdateLeadResult,
    ViciClient,
    ViciLoginError,
    ViciNotFoundError,
    split_phone,
)
from dialer.models import OutboxItem, ViciList, ViciServer
from leads.models import LeadEvent
from leads.services import EventSpec, lead_events_record

logger = logging.getLogger(__name__)
FOREVER = timedelta(days=3650)


# --- credentials ---------------------------------------------------------------------------


def _fernet() -> Fernet:
    secret = settings.FIELD_ENCRYPTION_KEY or settings.SECRET_KEY
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def server_set_password(*, server: ViciServer, password: str) -> None:
    server.api_password_encrypted = _fernet().encrypt(password.encode()).decode()
    server.save(update_fields=["api_password_encrypted", "updated_at"])


def server_password(server: ViciServer) -> str:
    if server.api_password_env:
        value = os.environ.get(server.api_password_env)
        if value is None:
            raise ApplicationError(
                f"Environment variable {server.api_password_env} is not set.", code="no_password"
            )
        return value
    if not server.api_password_encrypted:
        raise ApplicationError("This server has no API password.", code="no_password")
    try:
        return _fernet().decrypt(server.api_password_encrypted.encode()).decode()
    except InvalidToken:
        raise ApplicationError(
            "The stored password cannot be decrypted (SECRET_KEY or FIELD_ENCRYPTION_KEY "
            "changed): set it again.",
            code="no_password",
        )


def client_for(server: ViciServer) -> ViciClient:
    return ViciClient(
        url=server.api_url,
        user=server.api_user,
        password=server_password(server),
        source=server.source,
        timeout=server.timeout_seconds,
        pool_size=server.max_concurrency,
    )


# --- enqueue (contracts used by routing) ---------------------------------------------------


def _enqueue(lead_ids: Sequence[int], vici_list_id: int, operation: str) -> int:
    if not lead_ids:
        return 0
    vici_list = ViciList.objects.select_related("server").get(pk=vici_list_id)
    skip_sent_add = (
        "AND NOT EXISTS (SELECT 1 FROM dialer_outboxitem o WHERE o.lead_id = l.id "
        "AND o.operation = 'add' AND o.state = 'sent' AND o.vici_list_id = %s)"
        if operation == OutboxItem.Operation.ADD
        else ""
    )
    params: list[Any] = [vici_list.server_id, vici_list.pk, operation, list(lead_ids)]
    if skip_sent_add:
        params.append(vici_list.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO dialer_outboxitem (lead_id, server_id, vici_list_id, operation, payload,
                state, attempts, next_attempt_at, last_response, last_error, created_at,
                updated_at)
            SELECT l.id, %s, %s, %s, '{{}}', 'pending', 0, now(), '', '', now(), now()
            FROM unnest(%s::bigint[]) AS l(id)
            WHERE TRUE {skip_sent_add}
            ON CONFLICT DO NOTHING
            """,
            params,
        )
        return cursor.rowcount


def outbox_enqueue_add(*, lead_ids: Sequence[int], vici_list_id: int) -> int:
    """Enqueue an add_lead of each lead into the ViciList ``vici_list_id``. Idempotent."""
    return _enqueue(lead_ids, vici_list_id, OutboxItem.Operation.ADD)


def outbox_enqueue_move(*, lead_ids: Sequence[int], vici_list_id: int) -> int:
    """Enqueue a move (update_lead list_id_field) of each lead to ``vici_list_id``."""
    return _enqueue(lead_ids, vici_list_id, OutboxItem.Operation.MOVE)


# Lead fields mirrored into VICIdial when they change here (phone goes as code + number).
VICI_FIELDS = ("first_name", "last_name", "email", "state", "postal_code", "phone")


def _where_in_vici(lead_ids: Sequence[int]) -> list[tuple[int, int, int]]:
    """(lead_id, ViciList pk, server id) of the list each lead was last pushed or moved to."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (lead_id) lead_id, vici_list_id, server_id "
            "FROM dialer_outboxitem WHERE lead_id = ANY(%s) AND operation IN ('add', 'move') "
            "AND state = 'sent' ORDER BY lead_id, sent_at DESC, id DESC",
            [list(lead_ids)],
        )
        return cursor.fetchall()


def _enqueue_payload(lead_ids: Sequence[int], operation: str, payload: dict[str, Any]) -> int:
    """One open item per lead and operation: a second change merges into the open one (even
    in flight: the drain then keeps it pending, so the newer fields are sent too)."""
    placed = _where_in_vici(lead_ids)
    if not placed or not payload:
        return 0
    leads, lists, servers = unnest_columns(placed)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO dialer_outboxitem (lead_id, server_id, vici_list_id, operation, payload,
                state, attempts, next_attempt_at, last_response, last_error, created_at,
                updated_at)
            SELECT k.lead, k.server, k.list, %s, %s::jsonb, 'pending', 0, now(), '', '', now(),
                now()
            FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) k(lead, list, server)
            ON CONFLICT (lead_id, operation, vici_list_id)
                WHERE state IN ('pending', 'in_flight')
            DO UPDATE SET payload = dialer_outboxitem.payload || EXCLUDED.payload,
                updated_at = now()
            """,
            [operation, json.dumps(payload), leads, lists, servers],
        )
        return cursor.rowcount


def outbox_enqueue_update(*, lead_ids: Sequence[int], fields: dict[str, Any]) -> int:
    """Enqueue an ``update_lead`` of these fields for leads that are in VICIdial."""
    payload: dict[str, str] = {}
    for name, value in fields.items():
        if name not in VICI_FIELDS or value in (None, ""):
            continue
        if name == "phone":  # VICIdial writes phone_number only with update_phone_number=Y
            payload["phone_code"], payload["phone_number"] = split_phone(str(value))
            payload["update_phone_number"] = "Y"
        else:
            payload[name] = str(value)
    return _enqueue_payload(lead_ids, OutboxItem.Operation.UPDATE, payload)


def outbox_enqueue_status(*, lead_ids: Sequence[int], status: str) -> int:
    """Enqueue an ``update_lead`` of the VICIdial status (e.g. DNC) for leads in VICIdial."""
    return _enqueue_payload(lead_ids, OutboxItem.Operation.STATUS, {"status": status})


# --- drain ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    item_id: int
    lead_id: int
    state: str
    vici_lead_id: int | None = None
    raw: str = ""
    error: str = ""
    message: str = ""
    login_failed: bool = False
    payload: dict = field(default_factory=dict)  # what was sent (an update may grow meanwhile)


@dataclass
class DrainStats:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    paused: bool = False
    budget_exhausted: bool = False
    batches: int = 0


def _hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def calls_reserve(*, server_id: int, want: int) -> int:
    """Reserve up to ``want`` calls of the server's hourly budget (exact across workers)."""
    now = timezone.now()
    with transaction.atomic():
        server = ViciServer.objects.select_for_update().get(pk=server_id)
        used = server.calls_in_hour if server.calls_hour == _hour(now) else 0
        granted = max(0, min(want, server.max_calls_per_hour - used))
        ViciServer.objects.filter(pk=server_id).update(
            calls_hour=_hour(now), calls_in_hour=used + granted
        )
    return granted


def calls_release(*, server_id: int, unused: int) -> None:
    if unused > 0:
        hour = _hour(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE dialer_viciserver SET calls_in_hour = GREATEST(0, calls_in_hour - %s) "
                "WHERE id = %s AND calls_hour = %s",
                [unused, server_id, hour],
            )


def _claim(server_id: int, limit: int) -> list[dict[str, Any]]:
    now = timezone.now()
    lease = now + timedelta(seconds=settings.DIALER_LEASE_SECONDS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH picked AS (
                SELECT id FROM dialer_outboxitem
                WHERE server_id = %s AND (
                    (state = 'pending' AND next_attempt_at <= %s)
                    OR (state = 'in_flight' AND leased_until < %s))
                ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED
            )
            UPDATE dialer_outboxitem o SET state = 'in_flight', leased_until = %s,
                attempts = o.attempts + 1, updated_at = %s
            FROM picked WHERE o.id = picked.id
            RETURNING o.id, o.lead_id, o.operation, o.vici_list_id, o.payload, o.attempts
            """,
            [server_id, now, now, limit, lease, now],
        )
        columns = ["id", "lead_id", "operation", "vici_list_id", "payload", "attempts"]
        items = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        for item in items:
            item["payload"] = json_value(item["payload"])
        if items:
            cursor.execute(
                "SELECT id, phone, first_name, last_name, email, state, postal_code, "
                "vici_lead_id, vici_list_id FROM leads_lead WHERE id = ANY(%s)",
                [[i["lead_id"] for i in items]],
            )
            leads = {row[0]: row for row in cursor.fetchall()}
            for item in items:
                item["lead"] = leads.get(item["lead_id"])
    return sorted(items, key=lambda i: i["id"])


def _send(client: ViciClient, item: dict[str, Any], lists: dict[int, ViciList]) -> Outcome:
    target = lists[item["vici_list_id"]]
    lead = item["lead"]
    out = Outcome(
        item_id=item["id"],
        lead_id=item["lead_id"],
        state=OutboxItem.State.SENT,
        payload=item["payload"] or {},
    )
    if lead is None:
        out.state, out.error = OutboxItem.State.FAILED, "the lead no longer exists here"
        return out
    _, phone, first, last, email, state, postal, vici_lead_id, _ = lead
    try:
        if item["operation"] == OutboxItem.Operation.ADD:
            phone_code, national = split_phone(phone) if phone else ("1", "")
            duplicate_check = target.duplicate_check or "DUPLIST"
            if target.duplicate_check_days:
                duplicate_check += f"{target.duplicate_check_days}DAY"
            result: AddLeadResult = client.add_lead(
                phone_number=national,
                phone_code=phone_code,
                list_id=target.list_id,
                duplicate_check=duplicate_check,
                add_to_hopper=target.add_to_hopper,
                hopper_priority=target.hopper_priority,
                vendor_lead_code=str(item["lead_id"]),
                first_name=first,
                last_name=last,
                email=email,
                state=state,
                postal_code=postal,
            )
            out.vici_lead_id, out.raw = result.lead_id, result.raw
            out.message = (
                f"Already in VICIdial as lead {result.lead_id} (duplicate in "
                f"{result.duplicate_kind.lower()}); linked"
                if result.duplicate
                else f"Pushed to VICIdial list {target.list_id} as lead {result.lead_id}"
            )
        else:
            fields = dict(item["payload"] or {})
            if item["operation"] == OutboxItem.Operation.MOVE:
                fields["list_id_field"] = target.list_id
            update: UpdateLeadResult
            if vici_lead_id:
                update = client.update_lead(lead_id=vici_lead_id, **fields)
            else:  # last resort: VICIdial has no index on vendor_lead_code (1-2 s a lookup)
                update = client.update_lead(vendor_lead_code=str(item["lead_id"]), **fields)
            out.vici_lead_id = update.lead_ids[0] if update.lead_ids else vici_lead_id
            out.raw = update.raw
            out.message = {
                OutboxItem.Operation.MOVE: f"Moved in VICIdial to list {target.list_id}",
                OutboxItem.Operation.STATUS: f"VICIdial status set to {fields.get('status')}",
            }.get(item["operation"], "Updated in VICIdial: " + ", ".join(sorted(fields)))
    except ViciLoginError as exc:
        out.state, out.error, out.raw, out.login_failed = "pending", exc.message, exc.raw, True
    except ViciNotFoundError as exc:
        out.state, out.error, out.raw = OutboxItem.State.FAILED, exc.message, exc.raw
    except ClientError as exc:
        out.state = "pending" if exc.retryable else OutboxItem.State.FAILED
        out.error, out.raw = exc.message, exc.raw
    return out


def _retry_at(attempts: int, now: datetime) -> datetime:
    return now + jittered_backoff(attempts, base=15.0)


def _record(outcomes: list[Outcome], attempts: dict[int, int], lists, server_id: int) -> None:
    """Write a batch of results set-wise: items, leads and events."""
    now = timezone.now()
    rows, events, lead_updates = [], [], []
    for out in outcomes:
        state, next_at = out.state, now
        if out.login_failed:
            state = "pending"  # not the item's fault: try again when the server is resumed
        elif state == "pending":
            if attempts[out.item_id] >= settings.DIALER_MAX_ATTEMPTS:
                state = OutboxItem.State.DEAD
            else:
                next_at = _retry_at(attempts[out.item_id], now)
        rows.append(
            (out.item_id, state, next_at, out.vici_lead_id, out.raw[:5000], out.error[:2000])
        )
        if state == OutboxItem.State.SENT:
            lead_updates.append((out.lead_id, out.vici_lead_id, lists[out.item_id]))
            events.append(
                EventSpec(
                    lead_id=out.lead_id,
                    kind=LeadEvent.Kind.PUSHED,
                    message=out.message,
                    actor="dialer",
                    data={"vici_lead_id": out.vici_lead_id, "vici_list_id": lists[out.item_id]},
                )
            )
        elif state in (OutboxItem.State.FAILED, OutboxItem.State.DEAD):
            events.append(
                EventSpec(
                    lead_id=out.lead_id,
                    kind=LeadEvent.Kind.PUSH_FAILED,
                    message=f"VICIdial push failed: {out.error}",
                    actor="dialer",
                    data={"error": out.error},
                )
            )
    with transaction.atomic(), connection.cursor() as cursor:
        ids, states, nexts, vids, raws, errors = unnest_columns(rows)
        cursor.execute(
            "UPDATE dialer_outboxitem o SET state = CASE WHEN k.state = 'sent' "
            "  AND o.payload <> k.payload THEN 'pending' ELSE k.state END, "
            "next_attempt_at = k.next_at, "
            "vici_lead_id = COALESCE(k.vid, o.vici_lead_id), last_response = k.raw, "
            "last_error = k.err, leased_until = NULL, updated_at = %s, "
            "sent_at = CASE WHEN k.state = 'sent' THEN %s ELSE o.sent_at END, "
            "attempts = CASE WHEN k.login THEN GREATEST(o.attempts - 1, 0) ELSE o.attempts END "
            "FROM unnest(%s::bigint[], %s::varchar[], %s::timestamptz[], %s::bigint[], "
            "%s::text[], %s::text[], %s::boolean[], %s::jsonb[]) "
            "k(id, state, next_at, vid, raw, err, login, payload) "
            "WHERE o.id = k.id",
            [
                now,
                now,
                ids,
                states,
                nexts,
                vids,
                raws,
                errors,
                [o.login_failed for o in outcomes],
                [json.dumps(o.payload) for o in outcomes],
            ],
        )
        if lead_updates:
            lids, vids2, vlists = unnest_columns(lead_updates)
            cursor.execute(
                "UPDATE leads_lead l SET vici_lead_id = k.vid, vici_list_id = k.list, "
                "updated_at = %s FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) "
                "k(id, vid, list) WHERE l.id = k.id",
                [now, lids, vids2, vlists],
            )
        lead_events_record(events=events)
        if any(o.state == OutboxItem.State.SENT for o in outcomes):
            ViciServer.objects.filter(pk=server_id).update(last_success_at=now)


def server_pause(*, server_id: int, reason: str) -> None:
    logger.error("VICIdial server %s paused: %s", server_id, reason)
    ViciServer.objects.filter(pk=server_id).update(
        paused_until=timezone.now() + FOREVER, paused_reason=reason[:500], last_error=reason
    )


def server_resume(*, server: ViciServer) -> None:
    ViciServer.objects.filter(pk=server.pk).update(paused_until=None, paused_reason="")


def outbox_drain(*, server_id: int, max_batches: int | None = None) -> DrainStats:
    """Push this server's due items until none are due or the budget is spent.

    A pipeline, not lock-step batches: up to ``max_concurrency`` requests are always in
    flight; the next batch is claimed while the current one is still being sent, and results
    are written in chunks as they come back.
    """
    stats = DrainStats()
    server = ViciServer.objects.get(pk=server_id)
    if not server.is_active or (server.paused_until and server.paused_until > timezone.now()):
        stats.paused = True
        return stats
    client = client_for(server)
    lists = {vl.pk: vl for vl in ViciList.objects.filter(server=server)}
    pipe = _Pipeline(server_id, lists, stats)
    concurrency = max(1, server.max_concurrency)
    items = pipe.claim(settings.DIALER_BATCH_SIZE)
    if not items:
        return stats
    # The drain's first item goes alone: a bad login must cost one attempt, not ten.
    first = _send(client, items[0], lists)
    pipe.queue.extend(items[1:])
    if pipe.record([first], probe=True):
        pipe.release()
        return stats
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        inflight: set[Future] = set()
        done: list[Outcome] = []
        while True:
            while pipe.queue and len(inflight) < concurrency:
                inflight.add(pool.submit(_send, client, pipe.queue.popleft(), lists))
            outstanding = len(pipe.queue) + len(inflight)
            if (
                pipe.claiming
                and outstanding < settings.DIALER_BATCH_SIZE
                and (max_batches is None or stats.batches < max_batches)
            ):
                pipe.queue.extend(pipe.claim(settings.DIALER_BATCH_SIZE))
                continue
            if not inflight and not pipe.queue and not done:
                break
            if inflight:
                finished, inflight = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
                done += [f.result() for f in finished]
            if done and (len(done) >= max(concurrency, 25) or not inflight):
                chunk, done = done, []
                if pipe.record(chunk):  # stop: give back what was claimed but not sent
                    rest = [f.result() for f in wait(inflight).done]
                    inflight = set()
                    pipe.record(rest, final=True)
                    pipe.release()
                    break
    return stats


class _Pipeline:
    """The drain's bookkeeping: claimed items, their attempts and lists, and the stop rules."""

    def __init__(self, server_id: int, lists: dict[int, ViciList], stats: DrainStats) -> None:
        self.server_id, self.lists, self.stats = server_id, lists, stats
        self.queue: deque[dict[str, Any]] = deque()
        self.attempts: dict[int, int] = {}
        self.item_lists: dict[int, int] = {}
        self.claiming = True

    def claim(self, want: int) -> list[dict[str, Any]]:
        granted = calls_reserve(server_id=self.server_id, want=want)
        if granted == 0:
            self.stats.budget_exhausted, self.claiming = True, False
            return []
        items = _claim(self.server_id, granted)
        calls_release(server_id=self.server_id, unused=granted - len(items))
        if not items:
            self.claiming = False
            return []
        self.stats.batches += 1
        for item in items:
            self.attempts[item["id"]] = item["attempts"]
            self.item_lists[item["id"]] = self.lists[item["vici_list_id"]].list_id
        return items

    def record(self, outcomes: list[Outcome], *, final: bool = False, probe: bool = False) -> bool:
        """Write outcomes; True when the drain must stop (a login error, a failing server).
        A ``probe`` (the first request) stops the drain only for a login error."""
        if not outcomes:
            return False
        _record(outcomes, self.attempts, self.item_lists, self.server_id)
        for out in outcomes:
            if out.login_failed:
                continue
            if out.state == OutboxItem.State.SENT:
                self.stats.sent += 1
            elif out.state == "pending":
                self.stats.retrying += 1
            else:
                self.stats.failed += 1
        if final:
            return True
        login = next((o for o in outcomes if o.login_failed and o.error), None)
        if login is not None:
            server_pause(server_id=self.server_id, reason=login.error)
            self.stats.paused = True
            return True
        retryable = [o for o in outcomes if o.state == "pending" and not o.login_failed]
        if retryable:
            ViciServer.objects.filter(pk=self.server_id).update(last_error=retryable[0].error)
        if len(retryable) == len(outcomes) and not probe:
            return True  # the server is failing: leave the rest for the next run
        return False

    def release(self) -> None:
        """Items claimed but never sent go back to pending, their attempt not counted."""
        if not self.queue:
            return
        unsent = [
            Outcome(
                item_id=i["id"],
                lead_id=i["lead_id"],
                state="pending",
                login_failed=True,
                payload=i["payload"] or {},
            )
            for i in self.queue
        ]
        self.queue.clear()
        _record(unsent, self.attempts, self.item_lists, self.server_id)
        calls_release(server_id=self.server_id, unused=len(unsent))


def outbox_retry(*, item_ids: Sequence[int]) -> int:
    """Admin "retry": failed or dead items go back to pending now."""
    return OutboxItem.objects.filter(
        pk__in=item_ids, state__in=[OutboxItem.State.FAILED, OutboxItem.State.DEAD]
    ).update(
        state=OutboxItem.State.PENDING,
        next_attempt_at=timezone.now(),
        attempts=0,
        updated_at=timezone.now(),
    )


def outbox_retry_all_failed(*, server_id: int | None = None) -> int:
    items = OutboxItem.objects.filter(state__in=[OutboxItem.State.FAILED, OutboxItem.State.DEAD])
    if server_id:
        items = items.filter(server_id=server_id)
    return outbox_retry(item_ids=list(items.values_list("pk", flat=True)))
