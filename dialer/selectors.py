"""Reads of the dialer app: health probes and the server list's outbox counts."""

from collections.abc import Collection
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from dialer.models import OutboxItem, ViciList, ViciServer

OPEN = [OutboxItem.State.PENDING, OutboxItem.State.IN_FLIGHT]
GAVE_UP = [OutboxItem.State.FAILED, OutboxItem.State.DEAD]


def outbox_pending() -> int:
    """Outbox items still to send (a queue depth)."""
    return OutboxItem.objects.filter(state__in=OPEN).count()


def vici_calls_per_hour() -> int:
    """VICIdial API calls spent this hour, over every server."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    total = ViciServer.objects.filter(calls_hour=hour).aggregate(n=Sum("calls_in_hour"))["n"]
    return total or 0


def _outbox_count(states: list[str]) -> Coalesce:
    """Per server row: its outbox items in these states (one index lookup, not a join)."""
    items = (
        OutboxItem.objects.filter(server=OuterRef("pk"), state__in=states)
        .order_by()
        .values("server")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(items, output_field=IntegerField()), 0)


def servers_with_outbox_counts(servers: QuerySet[ViciServer]) -> QuerySet[ViciServer]:
    """Servers annotated with ``_pending`` (pending or in flight) and ``_failed`` (failed or
    dead) outbox items, counted per listed server, so the sent history is never scanned."""
    return servers.annotate(_pending=_outbox_count(OPEN), _failed=_outbox_count(GAVE_UP))


def vici_lists_in_scope(*, workspace_ids: Collection[int]) -> list[tuple[int, int, int]]:
    """(pk, server id, Vici list number) of the lists of these workspaces."""
    lists = ViciList.objects.filter(workspace_id__in=list(workspace_ids))
    return list(lists.values_list("pk", "server_id", "list_id"))


def dashboard_dialer(window: Any) -> dict[str, Any]:
    """The dashboard's "VICIdial" panel: the outbox (waiting, sent today and in 24 hours,
    failed, dead) and each server's health. A person who sees some workspaces sees the
    items of their workspaces' lists and the servers those lists are on. Four queries:
    the lists in scope, open and failed items by state and server (``outbox_state_idx``),
    items sent (``outbox_sent_idx``), the servers."""
    ids = window.workspace_ids
    items = OutboxItem.objects.order_by()
    servers = ViciServer.objects.order_by("name")
    if ids is not None:
        lists = vici_lists_in_scope(workspace_ids=ids)
        items = items.filter(vici_list_id__in=[pk for pk, _, _ in lists])
        servers = servers.filter(pk__in={server for _, server, _ in lists})
    by_state: dict[str, int] = {}
    pending_by_server: dict[int, int] = {}
    for row in (
        items.filter(state__in=OPEN + GAVE_UP).values("state", "server_id").annotate(n=Count("*"))
    ):
        by_state[row["state"]] = by_state.get(row["state"], 0) + row["n"]
        if row["state"] in OPEN:
            pending_by_server[row["server_id"]] = (
                pending_by_server.get(row["server_id"], 0) + row["n"]
            )
    sent = items.filter(state=OutboxItem.State.SENT, sent_at__gte=window.since).aggregate(
        day=Count("id"), today=Count("id", filter=Q(sent_at__gte=window.today))
    )
    now = window.now
    hour = now.replace(minute=0, second=0, microsecond=0)
    rows, paused = [], 0
    for server in servers:
        is_paused = bool(server.paused_until and server.paused_until > now)
        paused += is_paused or not server.is_active
        health = (
            "paused"
            if is_paused
            else "off"
            if not server.is_active
            else "alert"
            if server.alert
            else "error"
            if server.last_error
            else "ok"
        )
        rows.append(
            {
                "name": server.name,
                "health": health,
                "reason": (
                    server.paused_reason if is_paused else server.alert or server.last_error
                )[:200],
                "pending": pending_by_server.get(server.pk, 0),
                "calls": server.calls_in_hour if server.calls_hour == hour else 0,
                "max_calls": server.max_calls_per_hour,
                "last_success_at": server.last_success_at,
            }
        )
    failed = by_state.get(OutboxItem.State.FAILED, 0)
    dead = by_state.get(OutboxItem.State.DEAD, 0)
    return {
        "pending": sum(by_state.get(s, 0) for s in OPEN),
        "sent": sent,
        "failed": failed,
        "dead": dead,
        "servers": rows,
        "attention": [
            {
                "label": "VICIdial items Vici refused",
                "count": failed,
                "model": "dialer.outboxitem",
                "query": "state__exact=failed",
            },
            {
                "label": "VICIdial items that gave up retrying",
                "count": dead,
                "model": "dialer.outboxitem",
                "query": "state__exact=dead",
            },
            {
                "label": "VICIdial servers paused or off",
                "count": paused,
                "model": "dialer.viciserver",
                "query": "",
            },
        ],
    }
