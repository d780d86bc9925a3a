"""The outbox drain: push a server's due items through its Non-Agent API.

A drain per server claims due items with ``FOR UPDATE SKIP LOCKED`` under a lease (a
crashed drain's items come back after ``DIALER_LEASE_SECONDS``), sends them with bounded
concurrency within the server's hourly call budget, and records the results set-wise.
``add_lead`` always carries our lead id as ``vendor_lead_code`` and a duplicate check, so
a retry after a lost answer finds the lead VICIdial already has instead of adding it twice.
"""

import json
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.backoff import jittered_backoff
from core.db import json_value, unnest_columns
from core.errors import ClientError
from dialer.client import (
    AddLeadResult,
    UpdateLeadResult,
    ViciClient,
    ViciLoginError,
    ViciNotFoundError,
    split_phone,
)
from dialer.models import OutboxItem, ViciList, ViciServer
from dialer.services.credentials import client_for
from dialer.services.outbox import CONTACT_OPERATIONS, outbox_cancel, outbox_enqueue_status
from dialer.services.servers import calls_release, calls_reserve, server_pause
from leads.models import LeadEvent
from leads.selectors import LEAD_UNREACHABLE_SQL, leads_unreachable
from leads.services import EventSpec, lead_events_record, leads_vici_ids_record

LEAD_COLUMNS = (
    "id",
    "phone",
    "first_name",
    "last_name",
    "email",
    "state",
    "postal_code",
    "vici_lead_id",
)


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
    operation: str = ""
    payload: dict = field(default_factory=dict)  # what was sent (an update may grow meanwhile)


@dataclass
class DrainStats:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    paused: bool = False
    budget_exhausted: bool = False
    batches: int = 0


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
                f"SELECT {', '.join(LEAD_COLUMNS)} FROM leads_lead WHERE id = ANY(%s)",
                [[i["lead_id"] for i in items]],
            )
            leads = {row[0]: dict(zip(LEAD_COLUMNS, row, strict=True)) for row in cursor}
            for item in items:
                item["lead"] = leads.get(item["lead_id"])
            items = _without_unreachable(items)
    return sorted(items, key=lambda i: i["id"])


def _without_unreachable(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Re-check before contact: an add, move or update of a lead that must not be contacted
    now (DNC, suppressed, a suppression of its phone or email) is cancelled, not sent."""
    contact = [i for i in items if i["operation"] in CONTACT_OPERATIONS]
    unreachable = leads_unreachable(lead_ids=[i["lead_id"] for i in contact])
    if not unreachable:
        return items
    outbox_cancel(
        item_ids=[i["id"] for i in contact if i["lead_id"] in unreachable],
        reason="the lead is on the do-not-contact list",
    )
    return [
        i
        for i in items
        if i["operation"] not in CONTACT_OPERATIONS or i["lead_id"] not in unreachable
    ]


def _add(client: ViciClient, item: dict[str, Any], target: ViciList, out: Outcome) -> None:
    lead = item["lead"]
    phone_code, national = split_phone(lead["phone"]) if lead["phone"] else ("1", "")
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
        first_name=lead["first_name"],
        last_name=lead["last_name"],
        email=lead["email"],
        state=lead["state"],
        postal_code=lead["postal_code"],
    )
    out.vici_lead_id, out.raw = result.lead_id, result.raw
    out.message = (
        f"Already in VICIdial as lead {result.lead_id} (duplicate in "
        f"{result.duplicate_kind.lower()}); linked"
        if result.duplicate
        else f"Pushed to VICIdial list {target.list_id} as lead {result.lead_id}"
    )


def _update(client: ViciClient, item: dict[str, Any], target: ViciList, out: Outcome) -> None:
    fields = dict(item["payload"] or {})
    if item["operation"] == OutboxItem.Operation.MOVE:
        fields["list_id_field"] = target.list_id
    vici_lead_id = item["lead"]["vici_lead_id"]
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


def _send(client: ViciClient, item: dict[str, Any], lists: dict[int, ViciList]) -> Outcome:
    """Send one item; VICIdial's answer becomes the item's outcome (never raises)."""
    out = Outcome(
        item_id=item["id"],
        lead_id=item["lead_id"],
        state=OutboxItem.State.SENT,
        operation=item["operation"],
        payload=item["payload"] or {},
    )
    if item["lead"] is None:
        out.state, out.error = OutboxItem.State.FAILED, "the lead no longer exists here"
        return out
    target = lists[item["vici_list_id"]]
    try:
        if item["operation"] == OutboxItem.Operation.ADD:
            _add(client, item, target, out)
        else:
            _update(client, item, target, out)
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


def _final_state(out: Outcome, attempts: int, now: datetime) -> tuple[str, datetime]:
    """The item's state after this outcome, and when it is due again."""
    if out.login_failed:
        return "pending", now  # not the item's fault: try again when the server is resumed
    if out.state != "pending":
        return out.state, now
    if attempts >= settings.DIALER_MAX_ATTEMPTS:
        return OutboxItem.State.DEAD, now
    return "pending", _retry_at(attempts, now)


def _event(out: Outcome, state: str, list_number: int) -> EventSpec | None:
    if state == OutboxItem.State.SENT:
        return EventSpec(
            lead_id=out.lead_id,
            kind=LeadEvent.Kind.PUSHED,
            message=out.message,
            actor="dialer",
            data={"vici_lead_id": out.vici_lead_id, "vici_list_id": list_number},
        )
    if state in (OutboxItem.State.FAILED, OutboxItem.State.DEAD):
        return EventSpec(
            lead_id=out.lead_id,
            kind=LeadEvent.Kind.PUSH_FAILED,
            message=f"VICIdial push failed: {out.error}",
            actor="dialer",
            data={"error": out.error},
        )
    return None


def _write_items(cursor, outcomes: list[Outcome], rows: list[tuple], now: datetime) -> None:
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


def _stop_dialing_unreachable(cursor: Any, placed: list[int]) -> None:
    """Leads that reached VICIdial while being marked do-not-contact get their DNC status
    there at once. The row locks order this with any concurrent status change: either it
    is seen here, or its own receiver runs after this commit and sees the lead in VICIdial."""
    if not placed:
        return
    cursor.execute(
        f"SELECT l.id, {LEAD_UNREACHABLE_SQL} FROM leads_lead l WHERE l.id = ANY(%s) "
        "ORDER BY l.id FOR SHARE OF l",
        [sorted(placed)],
    )
    unreachable = [lead_id for lead_id, blocked in cursor.fetchall() if blocked]
    if unreachable:
        outbox_enqueue_status(lead_ids=unreachable, status=settings.DIALER_STATUS_MAP["dnc"])


def _record(outcomes: list[Outcome], attempts: dict[int, int], lists, server_id: int) -> None:
    """Write a batch of results set-wise: items, where the leads are in VICIdial, events."""
    now = timezone.now()
    rows, events, placements, placed = [], [], [], []
    for out in outcomes:
        state, next_at = _final_state(out, attempts[out.item_id], now)
        rows.append(
            (out.item_id, state, next_at, out.vici_lead_id, out.raw[:5000], out.error[:2000])
        )
        if state == OutboxItem.State.SENT:
            placements.append((out.lead_id, out.vici_lead_id, lists[out.item_id]))
            if out.operation in (OutboxItem.Operation.ADD, OutboxItem.Operation.MOVE):
                placed.append(out.lead_id)
        event = _event(out, state, lists[out.item_id])
        if event is not None:
            events.append(event)
    with transaction.atomic(), connection.cursor() as cursor:
        _write_items(cursor, outcomes, rows, now)
        leads_vici_ids_record(placements=placements)
        lead_events_record(events=events)
        _stop_dialing_unreachable(cursor, placed)
        if any(o.state == OutboxItem.State.SENT for o in outcomes):
            ViciServer.objects.filter(pk=server_id).update(last_success_at=now)


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
