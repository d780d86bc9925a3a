"""Reads of the dialer app: health probes and the server list's outbox counts."""

from django.db.models import Count, IntegerField, JSONField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, JSONObject
from django.utils import timezone

from dialer.models import OutboxItem, ViciServer

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
