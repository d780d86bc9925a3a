"""The drain's claim and bookkeeping: claimed items, their attempts and lists, and the
rules that stop a drain (a login error, a failing server, the hourly budget)."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.db import json_value
from dialer.exceptions import ServerPausedError
from dialer.models import OutboxItem, ViciList, ViciServer
from dialer.services.outbox import CONTACT_OPERATIONS, outbox_cancel
from dialer.services.record import outcomes_record
from dialer.services.send import Outcome
from dialer.services.servers import (
    calls_release,
    calls_reserve,
    server_alert_add,
    server_assert_open,
    server_pause,
)
from leads.suppressions import leads_unreachable

STOP_DIALING = (OutboxItem.Operation.STATUS, OutboxItem.Operation.DNC)
# The Non-Agent API function behind each outbox operation.
VICI_FUNCTIONS: dict[str, str] = {
    OutboxItem.Operation.ADD: "add_lead",
    OutboxItem.Operation.MOVE: "update_lead",
    OutboxItem.Operation.UPDATE: "update_lead",
    OutboxItem.Operation.STATUS: "update_lead",
    OutboxItem.Operation.DNC: "add_dnc_phone",
}

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
class DrainStats:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    paused: bool = False
    budget_exhausted: bool = False
    batches: int = 0
    error: str = ""  # why the drain could not start (e.g. no usable password)
    busy: bool = False  # another drain of this server was running: this one did nothing


def items_claim(server_id: int, limit: int) -> list[dict[str, Any]]:
    now = timezone.now()
    lease = now + timedelta(seconds=settings.DIALER_LEASE_SECONDS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH picked AS (
                SELECT id FROM dialer_outboxitem
                WHERE server_id = %s AND (
                    (state = %s AND next_attempt_at <= %s)
                    OR (state = %s AND leased_until < %s))
                ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED
            )
            UPDATE dialer_outboxitem o SET state = %s, leased_until = %s,
                attempts = o.attempts + 1, updated_at = %s
            FROM picked WHERE o.id = picked.id
            RETURNING o.id, o.lead_id, o.operation, o.vici_list_id, o.payload, o.attempts
            """,
            [
                server_id,
                OutboxItem.State.PENDING,
                now,
                OutboxItem.State.IN_FLIGHT,
                now,
                limit,
                OutboxItem.State.IN_FLIGHT,
                lease,
                now,
            ],
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
    # What stops dialing (a DNC status, the DNC list) goes first, then in id order.
    return sorted(items, key=lambda i: (i["operation"] not in STOP_DIALING, i["id"]))


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


class Pipeline:
    """The drain's bookkeeping: claimed items, their attempts and lists, and the stop rules."""

    def __init__(self, server_id: int, lists: dict[int, ViciList], stats: DrainStats) -> None:
        self.server_id, self.lists, self.stats = server_id, lists, stats
        self.attempts: dict[int, int] = {}
        self.item_lists: dict[int, int | None] = {}  # item id -> Vici list number (or none)
        self.targets: dict[int, ViciList] = {}  # item id -> its list
        self.claiming = True

    def claim(self, want: int) -> list[dict[str, Any]]:
        try:
            granted = calls_reserve(server_id=self.server_id, want=want)
        except ServerPausedError:  # paused or deactivated since the drain began
            self.stats.paused, self.claiming = True, False
            return []
        if granted == 0:
            self.stats.budget_exhausted, self.claiming = True, False
            return []
        items = items_claim(self.server_id, granted)
        calls_release(server_id=self.server_id, unused=granted - len(items))
        if not items:
            self.claiming = False
            return []
        self.stats.batches += 1
        for item in items:
            self.attempts[item["id"]] = item["attempts"]
            target = self.lists.get(item["vici_list_id"])  # none for a DNC-list item
            if target is not None:
                self.targets[item["id"]] = target
            self.item_lists[item["id"]] = target.list_id if target else None
        return items

    def record(self, outcomes: list[Outcome], *, final: bool = False, probe: bool = False) -> bool:
        """Write outcomes; True when the drain must stop (a login error, a failing server).
        A ``probe`` (the first request) stops the drain only for a login error."""
        if not outcomes:
            return False
        outcomes_record(outcomes, self.attempts, self.item_lists, self.server_id)
        self._alert(outcomes)
        for out in outcomes:
            if out.login_failed:
                continue
            if out.state == OutboxItem.State.SENT:
                self.stats.sent += 1
            elif out.state == OutboxItem.State.PENDING:
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
        retryable = [
            o for o in outcomes if o.state == OutboxItem.State.PENDING and not o.login_failed
        ]
        if retryable:
            ViciServer.objects.filter(pk=self.server_id).update(last_error=retryable[0].error)
        if len(retryable) == len(outcomes) and not probe:
            return True  # the server is failing: leave the rest for the next run
        return self._paused_elsewhere()

    def _alert(self, outcomes: list[Outcome]) -> None:
        """What only a VICIdial admin can fix becomes the server's alert, once."""
        lines = []
        for out in outcomes:
            if out.code == "list_missing":
                target = self.targets[out.item_id]
                lines.append(
                    f"VICIdial has no list {target.list_id} ({target.name}): pushes to it fail. "
                    "Create the list in VICIdial (or correct it here), clear this alert, then "
                    "retry the failed items."
                )
            elif out.code == "permission":
                function = VICI_FUNCTIONS.get(out.operation, out.operation)
                lines.append(
                    f"The API user may not use {function} (see the VICIdial section of the "
                    "README for the user settings it needs); fix it in VICIdial, clear this "
                    "alert, then retry the failed items."
                )
        if lines:
            server_alert_add(server_id=self.server_id, lines=lines)

    def _paused_elsewhere(self) -> bool:
        """Another drain or a sync paused the server (or an admin deactivated it): stop
        within a chunk, not a batch, and send nothing more."""
        try:
            server_assert_open(server_id=self.server_id)
        except ServerPausedError:
            self.stats.paused = True
            return True
        return False

    def release(self, items: list[dict[str, Any]]) -> None:
        """Items claimed but never sent go back to pending, their attempt not counted."""
        if not items:
            return
        unsent = [
            Outcome(
                item_id=i["id"],
                lead_id=i["lead_id"],
                state=OutboxItem.State.PENDING,
                login_failed=True,
                payload=i["payload"] or {},
            )
            for i in items
        ]
        outcomes_record(unsent, self.attempts, self.item_lists, self.server_id)
        calls_release(server_id=self.server_id, unused=len(unsent))
