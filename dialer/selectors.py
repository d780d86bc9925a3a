"""Reads of the dialer app: health probes, the server list's outbox counts, and the servers
and lists a workspace may configure (``workspace_ids``: a collection, or None for all)."""

from collections.abc import Collection, Sequence
from typing import Any

from django.conf import settings
from django.db.models import Count, IntegerField, JSONField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, JSONObject
from django.utils import timezone

from core import slo
from core.alerts.models import Severity
from core.alerts.registry import Finding
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


def _outbox_count(states: Sequence[str]) -> Coalesce:
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


# --- SLOs (/metrics, /health) and alerts ----------------------------------------------------


def dialer_error_ratio() -> float:
    """The worst server's share of VICIdial requests that failed, over the SLO window."""
    window = settings.SLO_WINDOW_SECONDS
    requests = slo.window_sum("dialer_requests_total", window)
    errors = slo.window_sum("dialer_errors_total", window)
    ratios = [errors.get(label, 0) / n for label, n in requests.items() if n]
    return round(max(ratios, default=0.0), 4)


def dialer_push_lag_p95_seconds() -> float:
    """The worst server's p95 from routed (the add enqueued) to in VICIdial, over the window."""
    window = settings.SLO_WINDOW_SECONDS
    p95s = [
        slo.window_quantile("dialer_push_lag_seconds", 0.95, window, label=label)
        for label in slo.sample_labels("dialer_push_lag_seconds")
    ]
    return round(max((p for p in p95s if p is not None), default=0.0), 3)


def servers_paused() -> int:
    """Active servers paused now (a gauge for Prometheus' copy of the alert)."""
    return ViciServer.objects.filter(is_active=True, paused_until__gt=timezone.now()).count()


def outbox_dead() -> int:
    return OutboxItem.objects.filter(state=OutboxItem.State.DEAD).count()


def outbox_failing() -> int:
    """Open items that failed ALERT_OUTBOX_FAILING_ATTEMPTS times or more."""
    attempts = settings.ALERT_OUTBOX_FAILING_ATTEMPTS
    return OutboxItem.objects.filter(state__in=OPEN, attempts__gte=attempts).count()


def alert_servers_paused() -> list[Finding]:
    """Active servers that are paused (a bad login, or by a person): nothing reaches them."""
    servers = ViciServer.objects.filter(is_active=True, paused_until__gt=timezone.now())
    return [
        Finding(
            str(server.pk),
            f"VICIdial server {server.name} is paused: {server.paused_reason[:200]}",
            Severity.CRITICAL,
            detail="Nothing is pushed, synced or reconciled until it is resumed "
            "(Dialer > VICIdial servers > Resume).",
        )
        for server in servers.only("name", "paused_reason")
    ]


def alert_outbox_failing() -> list[Finding]:
    """Per server: outbox items dead (gave up) or still failing after
    ALERT_OUTBOX_FAILING_ATTEMPTS attempts."""
    failing = Q(state__in=OPEN, attempts__gte=settings.ALERT_OUTBOX_FAILING_ATTEMPTS)
    rows = (
        OutboxItem.objects.filter(Q(state=OutboxItem.State.DEAD) | failing)
        .values("server_id", "server__name")
        .annotate(
            dead=Count("pk", filter=Q(state=OutboxItem.State.DEAD)),
            failing=Count("pk", filter=failing),
        )
        .order_by("server_id")
    )
    return [
        Finding(
            str(row["server_id"]),
            f"VICIdial outbox of {row['server__name']}: {row['dead']} dead, "
            f"{row['failing']} failing for {settings.ALERT_OUTBOX_FAILING_ATTEMPTS}+ attempts",
            Severity.CRITICAL if row["dead"] else Severity.WARNING,
            detail="Dialer > Outbox items shows each item's error; fix the cause, then "
            "'Retry all failed'.",
        )
        for row in rows
    ]


def lead_vici_placement() -> Subquery:
    """Over a lead row: the VICIdial list of its newest add or move, with the server and the
    push's state, ``{"list_id", "name", "server", "state"}`` (``leads.placement``)."""
    pushes = OutboxItem.objects.filter(
        lead_id=OuterRef("pk"),
        operation__in=[OutboxItem.Operation.ADD, OutboxItem.Operation.MOVE],
    ).order_by("-id")
    fields = JSONObject(
        list_id="vici_list__list_id", name="vici_list__name", server="server__name", state="state"
    )
    return Subquery(pushes.values(json=fields)[:1], output_field=JSONField())


def servers_visible(*, workspace_ids: Collection[int] | None) -> QuerySet[ViciServer]:
    """Servers these workspaces set up and manage (a server of no workspace is the admins')."""
    servers = ViciServer.objects.all()
    return servers if workspace_ids is None else servers.filter(workspace_id__in=workspace_ids)


def servers_usable(*, workspace_ids: Collection[int] | None) -> QuerySet[ViciServer]:
    """Servers these workspaces' lists may be on: their own and the shared ones (no
    workspace), never another workspace's."""
    servers = ViciServer.objects.all()
    if workspace_ids is None:
        return servers
    return servers.filter(Q(workspace__isnull=True) | Q(workspace_id__in=workspace_ids))


def lists_visible(*, workspace_ids: Collection[int] | None) -> QuerySet[ViciList]:
    """Lists these workspaces run (a list of no workspace is the admins')."""
    lists = ViciList.objects.all()
    return lists if workspace_ids is None else lists.filter(workspace_id__in=workspace_ids)


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
