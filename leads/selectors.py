"""Reads of the leads app. Archived partitions (``archive`` schema) are read too."""

from django.db import ProgrammingError, connection, connections, router
from django.db.models import QuerySet
from psycopg.errors import UndefinedTable

from core.models import ColdPartition
from core.partitions import archived_tables
from leads.models import Lead, LeadEvent, Workspace
from leads.normalize import normalize_phone


def _from_archive(model, where: str, params: list, limit: int) -> list:
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


def _archive_rows(model, where: str, params: list, using: str, limit: int) -> list:
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
        obj.is_archived = True
        result.append(obj)
    return result


def lead_get(*, lead_id: int, workspace: Workspace | None = None) -> Lead | None:
    """A lead by id, from live or archived partitions; ``workspace`` scopes the lookup."""
    queryset = Lead.objects.select_related("workspace", "destination_workspace")
    if workspace is not None:
        queryset = queryset.filter(workspace=workspace)
    lead = queryset.filter(pk=lead_id).first()
    if lead is not None:
        return lead
    where, params = "id = %s", [lead_id]
    if workspace is not None:
        where, params = "id = %s AND workspace_id = %s", [lead_id, workspace.pk]
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


def lead_search(*, workspace: Workspace | None = None, q: str = "", status: str = "") -> QuerySet:
    """Search on indexed columns: exact phone (normalized), email, external id."""
    queryset = Lead.objects.select_related("workspace").order_by("-created_at")
    if workspace is not None:
        queryset = queryset.filter(workspace=workspace)
    if status:
        queryset = queryset.filter(status=status)
    q = q.strip()
    if q:
        if "@" in q:
            queryset = queryset.filter(email=q.lower())
        elif q.isdigit() and len(q) < 7:
            queryset = queryset.filter(pk=int(q))
        else:
            try:
                phone = normalize_phone(q)
            except ValueError:
                phone = ""
            queryset = queryset.filter(phone=phone) if phone else queryset.filter(external_id=q)
    return queryset


def suppression_matches(
    *, workspace_id: int, phones: list[str], emails: list[str]
) -> set[tuple[str, str]]:
    """The (kind, value) pairs among these phones and emails that must not be contacted in
    this workspace (its own suppressions and the global ones)."""
    if not phones and not emails:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, value FROM leads_suppression "
            "WHERE (workspace_id = %s OR workspace_id IS NULL) AND ("
            "  (kind = 'phone' AND value = ANY(%s)) OR (kind = 'email' AND value = ANY(%s)))",
            [workspace_id, phones, emails],
        )
        return set(cursor.fetchall())


# The one SQL test of "this lead must not be contacted": its status, or a suppression of
# its phone or email, global or in its workspace. ``l`` is the lead. Other apps use it in
# their claims (reading the leads tables in a join is allowed; writing them is not).
LEAD_UNREACHABLE_SQL = (
    "(l.status IN ('dnc', 'suppressed') OR EXISTS (SELECT 1 FROM leads_suppression x "
    "WHERE (x.workspace_id = l.workspace_id OR x.workspace_id IS NULL) AND ("
    "(x.kind = 'phone' AND x.value = l.phone AND l.phone <> '') OR "
    "(x.kind = 'email' AND x.value = l.email AND l.email <> ''))))"
)


def leads_unreachable(*, lead_ids: list[int]) -> set[int]:
    """Which of these leads must not be contacted (DNC, suppressed status or a suppression
    of their phone or email)."""
    if not lead_ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.id FROM leads_lead l WHERE l.id = ANY(%s) AND {LEAD_UNREACHABLE_SQL}",
            [lead_ids],
        )
        return {row[0] for row in cursor.fetchall()}


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
