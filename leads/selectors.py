"""Reads of the leads app. Archived partitions (``archive`` schema) are read too.

Scope: a reader passes ``workspace_ids`` (a collection of workspace ids, or None for every
workspace: superusers, the admin role, staff keys where allowed). A lead is in a workspace's
scope when it belongs to it or was routed to it (``destination_workspace``): the partner
that sent it and the team that works it both see it.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import ProgrammingError, connection, connections, router
from django.db.models import Count, Exists, Max, Model, OuterRef, Q, QuerySet, Sum
from psycopg.errors import UndefinedTable

from core.models import ColdPartition
from core.partitions import archived_tables
from leads.intake_counts import VERDICTS as INTAKE_VERDICTS
from leads.models import IntakeCount, Lead, LeadEvent, Membership, Workspace
from leads.normalize import normalize_phone
from leads.placement import placement_annotate

WorkspaceIds = Collection[int] | None


def user_workspace_ids(user: Any) -> frozenset[int] | None:
    """The workspaces a person may see: every one with ``leads.all_workspaces`` (the admin
    role), else those of their memberships. Registered as ``core.scope``'s resolver; callers
    use ``core.scope.workspace_ids_for`` (cached per request)."""
    if user.has_perm("leads.all_workspaces"):
        return None
    return frozenset(
        Membership.objects.filter(user_id=user.pk, workspace__is_active=True).values_list(
            "workspace_id", flat=True
        )
    )


def workspaces_visible(*, workspace_ids: WorkspaceIds) -> QuerySet[Workspace]:
    queryset = Workspace.objects.all()
    return queryset if workspace_ids is None else queryset.filter(pk__in=list(workspace_ids))


def lead_scope_q(workspace_ids: Collection[int], prefix: str = "") -> Q:
    """Leads of these workspaces (theirs or routed to them); ``prefix`` is the path to the
    lead (``"lead__"`` from its events, calls and messages)."""
    ids = list(workspace_ids)
    return Q(**{f"{prefix}workspace_id__in": ids}) | Q(
        **{f"{prefix}destination_workspace_id__in": ids}
    )


def lead_ids_in_scope(*, workspace_ids: Collection[int]) -> QuerySet[Lead, Any]:
    """A subquery of the ids of leads in scope, for tables that keep a bare ``lead_id``."""
    return Lead.objects.filter(lead_scope_q(workspace_ids)).values("id")


def lead_in_scope(*, workspace_ids: Collection[int], lead_column: str = "lead_id") -> Exists:
    """For rows that belong to a lead (events, calls, messages...): their lead is in scope.
    A correlated EXISTS, so a newest-first list walks its own index and probes each row's
    lead by primary key, instead of joining every lead of the workspaces first."""
    leads = Lead.objects.filter(lead_scope_q(workspace_ids), pk=OuterRef(lead_column))
    return Exists(leads.values("pk"))


def lead_scope_stamped_q(workspace_ids: Collection[int]) -> Q:
    """For rows that carry a copy of their lead's scope (``lead_workspace_id`` and
    ``lead_destination_id``, kept by database triggers on call logs, messages and outbox
    items): the rows of these workspaces' leads, found through those columns' indexes,
    whatever the share of the table they are (none, a few, or a twentieth)."""
    ids = list(workspace_ids)
    return Q(lead_workspace_id__in=ids) | Q(lead_destination_id__in=ids)


def lead_scope_stale_sql(alias: str) -> str:
    """SQL condition: the row ``alias`` (a call log, message or outbox item) has a lead
    whose workspace or destination is not the row's copy of them, or whose lead is gone
    (its stamps then should be empty). The periodic re-checks stamp such rows again."""
    return (
        f"{alias}.lead_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM leads_lead l "
        f"WHERE l.id = {alias}.lead_id "
        f"AND l.workspace_id IS NOT DISTINCT FROM {alias}.lead_workspace_id "
        f"AND l.destination_workspace_id IS NOT DISTINCT FROM {alias}.lead_destination_id) "
        f"AND ({alias}.lead_workspace_id IS NOT NULL "
        f"OR EXISTS (SELECT 1 FROM leads_lead l WHERE l.id = {alias}.lead_id))"
    )


def lead_scope_stamped_branches(workspace_ids: Collection[int]) -> list[Q]:
    """``lead_scope_stamped_q`` as one condition per workspace and column: each an index
    walk in a list's order (``core.paginators.BranchMergePaginator`` merges them)."""
    ids = sorted(workspace_ids)
    return [Q(lead_workspace_id=w) for w in ids] + [Q(lead_destination_id=w) for w in ids]


def leads_visible(*, workspace_ids: WorkspaceIds) -> QuerySet[Lead]:
    queryset = Lead.objects.select_related("workspace")
    return queryset if workspace_ids is None else queryset.filter(lead_scope_q(workspace_ids))


CUSTOM_KEYS_LEADS = 1000  # how many of the newest leads show their custom keys
CUSTOM_KEYS_MAX = 200
CUSTOM_KEYS_SECONDS = 300


def custom_keys_recent(*, workspace_ids: WorkspaceIds) -> list[str]:
    """The ``custom`` keys of the newest leads in scope, sorted (the rule editor's field
    picker). One bounded query (the newest ``CUSTOM_KEYS_LEADS`` by the created_at index),
    cached a few minutes per scope."""
    scope = "all" if workspace_ids is None else ",".join(map(str, sorted(workspace_ids)))
    key = f"leads:custom-keys:{CUSTOM_KEYS_LEADS}:{scope}"
    keys = cache.get(key)
    if keys is None:
        newest = leads_visible(workspace_ids=workspace_ids).order_by("-created_at")
        sql, params = newest.values("custom")[:CUSTOM_KEYS_LEADS].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT k FROM ({sql}) recent, "
                "jsonb_object_keys(CASE WHEN jsonb_typeof(recent.custom) = 'object' "
                "THEN recent.custom ELSE '{}'::jsonb END) k ORDER BY k LIMIT %s",
                [*params, CUSTOM_KEYS_MAX],
            )
            keys = [row[0] for row in cursor.fetchall()]
        cache.set(key, keys, CUSTOM_KEYS_SECONDS)
    return list(keys)


def _from_archive(model: type[Model], where: str, params: list[Any], limit: int) -> list[Any]:
    """Rows of ``model``'s archived partitions. A partition dropped between listing and
    reading (moved to cold storage meanwhile) is not an error: the list is read again."""
    using = router.db_for_read(model)  # the replica in a @use_replica view
    try:
        return _archive_rows(model, where, params, using, limit)
    except ProgrammingError as exc:
        retry = isinstance(exc.__cause__, UndefinedTable)
        if not retry or connections[using].in_atomic_block:
            raise
    return _archive_rows(model, where, params, using, limit)


def _archive_rows(
    model: type[Model], where: str, params: list[Any], using: str, limit: int
) -> list[Any]:
    tables = archived_tables(model, using=using)
    if not tables:
        return []
    columns = [f.column for f in model._meta.concrete_fields]
    select = ", ".join(f'"{c}"' for c in columns)
    union = " UNION ALL ".join(f"SELECT {select} FROM {t} WHERE {where}" for t in tables)
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM ({union}) t ORDER BY created_at DESC, id DESC LIMIT %s",
            params * len(tables) + [limit],
        )
        rows = cursor.fetchall()
    result = []
    for row in rows:
        obj = model.from_db(using, [f.attname for f in model._meta.concrete_fields], row)
        obj.is_archived = True  # type: ignore[attr-defined]  # a mark read with getattr
        result.append(obj)
    return result


def lead_get(
    *,
    lead_id: int,
    workspace: Workspace | None = None,
    workspace_ids: WorkspaceIds = None,
    placement: bool = False,
) -> Lead | None:
    """A lead by id, from live or archived partitions, or None when it is not in scope:
    ``workspace`` (that workspace's own leads) or ``workspace_ids`` (see the module).
    ``placement``: with where it went, in the same query (``leads.placement``)."""
    queryset = Lead.objects.select_related("workspace", "destination_workspace")
    if placement:
        queryset = placement_annotate(queryset)
    if workspace is not None:
        queryset = queryset.filter(workspace=workspace)
    if workspace_ids is not None:
        queryset = queryset.filter(lead_scope_q(workspace_ids))
    lead = queryset.filter(pk=lead_id).first()
    if lead is not None:
        return lead
    params: list[Any]
    where, params = "id = %s", [lead_id]
    if workspace is not None:
        where, params = "id = %s AND workspace_id = %s", [lead_id, workspace.pk]
    if workspace_ids is not None:
        ids = list(workspace_ids)
        where = f"{where} AND (workspace_id = ANY(%s) OR destination_workspace_id = ANY(%s))"
        params = [*params, ids, ids]
    found = _from_archive(Lead, where, params, 1)
    return found[0] if found else None


def lead_history(*, lead_id: int, limit: int = 500) -> list[LeadEvent]:
    """The lead's events newest first, live and archived."""
    live = list(LeadEvent.objects.filter(lead_id=lead_id).order_by("-created_at", "-id")[:limit])
    archived = _from_archive(LeadEvent, "lead_id = %s", [lead_id], limit)
    if not archived:
        return live
    merged = sorted(live + archived, key=lambda e: (e.created_at, e.id), reverse=True)
    return merged[:limit]


def timeline_marker(*, lead_id: int) -> str:
    """Changes whenever the lead gets a new event (ids only grow), whatever time the event
    carries: the desk's live timeline polls it."""
    newest = LeadEvent.objects.filter(lead_id=lead_id).aggregate(newest=Max("id"))["newest"]
    return str(newest or 0)


def lead_search(
    *,
    workspace: Workspace | None = None,
    workspace_ids: WorkspaceIds = None,
    q: str = "",
    status: str = "",
) -> QuerySet[Lead]:
    """Search on indexed columns: exact phone (any format, normalized), email, lead id,
    external id, or a name ("Ana", "Lopez", "Ana Lopez": whole words, any case)."""
    queryset = Lead.objects.select_related("workspace").order_by("-created_at")
    if workspace is not None:
        queryset = queryset.filter(workspace=workspace)
    if workspace_ids is not None:
        queryset = queryset.filter(lead_scope_q(workspace_ids))
    if status:
        queryset = queryset.filter(status=status)
    q = q.strip()
    if q:
        queryset = queryset.filter(_search_q(q))
    return queryset


def _search_q(q: str) -> Q:
    if "@" in q:
        return Q(email=q.lower())
    if q.isdigit() and len(q) < 7:
        return Q(pk=int(q))
    try:
        phone = normalize_phone(q)
    except ValueError:
        phone = ""
    if phone:
        return Q(phone=phone)
    words = q.split()
    if any(ch.isdigit() for ch in q) or not words:
        return Q(external_id=q) & ~Q(external_id="")
    if len(words) == 1:
        return Q(external_id=q) | Q(last_name__iexact=q) | Q(first_name__iexact=q)
    first, last = words[0], " ".join(words[1:])
    return Q(first_name__iexact=first, last_name__iexact=last) | Q(last_name__iexact=q)


def lead_cold_location(*, lead_id: int) -> list[ColdPartition]:
    """The cold storage files whose lead id range holds ``lead_id`` (usually one)."""
    return list(
        ColdPartition.objects.filter(
            parent_table=Lead._meta.db_table, id_min__lte=lead_id, id_max__gte=lead_id
        ).order_by("month")
    )


def lead_cold_statement(*, lead_id: int) -> str:
    """The plain answer for a lead that left the database for cold storage ("" if not)."""
    files = lead_cold_location(lead_id=lead_id)
    if not files:
        return ""
    where = "; ".join(
        f"lead ids {f.id_min}..{f.id_max} of {f.month:%Y-%m} are in {f.file_name}" for f in files
    )
    return f"Lead {lead_id} is in cold storage: {where} (COLD_STORAGE_DIR)."


@dataclass
class DeskQueue:
    """What an agent works next: callbacks due (oldest promise first), then new leads and
    leads recently contacted (latest activity first). No counts: each part is a LIMIT on an
    index (``lead_callback_idx``, ``lead_ws_status_idx``, ``lead_dest_status_idx``)."""

    callbacks_due: list[Lead]
    new: list[Lead]
    contacted: list[Lead]


DESK_NEW_STATUSES = (Lead.Status.ROUTED,)
DESK_CONTACTED_STATUSES = (Lead.Status.CONTACTED, Lead.Status.CALLBACK)


def desk_queue_parts(*, workspace_ids: WorkspaceIds, now: datetime) -> dict[str, QuerySet[Lead]]:
    """The queue's three queries, unsliced (the EXPLAIN test reads them too)."""
    leads = leads_visible(workspace_ids=workspace_ids)
    return {
        "callbacks_due": leads.filter(status=Lead.Status.CALLBACK, callback_at__lte=now).order_by(
            "callback_at"
        ),
        "new": leads.filter(status__in=DESK_NEW_STATUSES).order_by("-updated_at"),
        "contacted": leads.filter(status__in=DESK_CONTACTED_STATUSES)
        .exclude(status=Lead.Status.CALLBACK, callback_at__lte=now)
        .order_by("-updated_at"),
    }


def desk_queue(*, workspace_ids: WorkspaceIds, now: datetime, limit: int = 25) -> DeskQueue:
    parts = desk_queue_parts(workspace_ids=workspace_ids, now=now)
    return DeskQueue(**{name: list(queryset[:limit]) for name, queryset in parts.items()})


# What each lead status counts as on the dashboard.
ROUTED_STATUSES = {"routed", "contacted", "callback", "sale", "not_interested", "dnc"}
UNROUTED_STATUSES = {"unrouted", "expired", "failed"}


def dashboard_leads(window: Any) -> dict[str, Any]:
    """The dashboard's "Leads in" panel (``core.dashboard.Window``): intake verdicts per hour
    from the maintained ``IntakeCount`` rows, and what became of the leads received, one
    query each (the second walks ``lead_created_idx`` over one day)."""
    ids = window.workspace_ids
    counts = IntakeCount.objects.filter(hour__gte=window.since)
    leads = Lead.objects.filter(created_at__gte=window.since)
    if ids is not None:
        counts = counts.filter(workspace_id__in=list(ids))
        leads = leads.filter(lead_scope_q(ids))
    by_hour = {
        row["hour"]: row
        for row in counts.values("hour").annotate(**{v: Sum(v) for v in INTAKE_VERDICTS})
    }
    hours = window.hours()
    series = {v: [by_hour.get(h, {}).get(v) or 0 for h in hours] for v in INTAKE_VERDICTS}
    today = [n for n, h in enumerate(hours) if h >= window.today]
    intake = {
        v: {"today": sum(series[v][n] for n in today), "day": sum(series[v])}
        for v in INTAKE_VERDICTS
    }
    outcome = {k: {"today": 0, "day": 0} for k in ("routed", "unrouted", "pending", "other")}
    rows = (
        leads.order_by()
        .values("status")
        .annotate(day=Count("id"), today=Count("id", filter=Q(created_at__gte=window.today)))
    )
    for row in rows:
        status = row["status"]
        key = (
            "routed"
            if status in ROUTED_STATUSES
            else "unrouted"
            if status in UNROUTED_STATUSES
            else "pending"
            if status == Lead.Status.PENDING
            else "other"
        )
        outcome[key]["today"] += row["today"]
        outcome[key]["day"] += row["day"]
    return {
        "intake": intake,
        "outcome": outcome,
        "chart": {
            "title": "Leads in per hour",
            "series": [
                ("new", "#2f7d32", series["created"]),
                ("duplicate", "#8a8f98", series["duplicate"]),
                ("suppressed", "#b26a00", series["suppressed"]),
                ("rejected", "#c62828", series["rejected"]),
            ],
        },
        "links": {
            "unrouted": {"model": "leads.lead", "query": "status__exact=unrouted&created=1"},
            "pending": {"model": "leads.lead", "query": "status__exact=pending"},
            "leads": {"model": "leads.lead", "query": "created=1"},
        },
    }


def workspace_names(workspace_ids: frozenset[int] | None) -> list[tuple[int, str]]:
    """(id, name) of the active workspaces among these (None: every one), by name."""
    workspaces = workspaces_visible(workspace_ids=workspace_ids).filter(is_active=True)
    return list(workspaces.order_by("name").values_list("pk", "name")[:500])
