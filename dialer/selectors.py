"""Reads of the dialer app: health probes, the server list's outbox counts, and the servers
and lists a workspace may configure (``workspace_ids``: a collection, or None for all)."""

from collections.abc import Collection

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
