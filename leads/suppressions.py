"""Reads of the do-not-contact list: what intake checks a batch against, what the
suppression API lists and looks up (scope as in ``leads.selectors``), and the one test of
"this lead must not be contacted" that every contact path applies."""

from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from core.pipeline import Statement
from leads.models import Lead, Suppression
from leads.selectors import WorkspaceIds


def suppression_matches(
    *, workspace_id: int, phones: list[str], emails: list[str]
) -> set[tuple[str, str]]:
    """The (kind, value) pairs among these phones and emails that must not be contacted in
    this workspace (its own suppressions and the global ones)."""
    statement = suppression_matches_statement(
        workspace_id=workspace_id, phones=phones, emails=emails
    )
    if statement is None:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(*statement)
        return set(cursor.fetchall())


def suppression_matches_statement(
    *, workspace_id: int, phones: list[str], emails: list[str]
) -> Statement | None:
    """The statement ``suppression_matches`` runs, its rows (kind, value); None: nothing to
    ask."""
    if not phones and not emails:
        return None
    return (
        MATCHES_SQL.format(*["%s"] * 5),
        matches_values(workspace_id=workspace_id, phones=phones, emails=emails),
    )


def matches_values(*, workspace_id: int, phones: list[str], emails: list[str]) -> list[Any]:
    """``MATCHES_SQL``'s values, in its order (as text or prepared)."""
    return [workspace_id, Suppression.Kind.PHONE, phones, Suppression.Kind.EMAIL, emails]


# The suppressions of a workspace and the global ones matching phones or emails: ``{}``s for
# the workspace id, then the phone kind and the phones, the email kind and the emails.
MATCHES_SQL = (
    "SELECT kind, value FROM leads_suppression "
    "WHERE (workspace_id = {} OR workspace_id IS NULL) AND ("
    "  (kind = {} AND value = ANY({})) OR (kind = {} AND value = ANY({})))"
)


def suppressions_visible(*, workspace_ids: WorkspaceIds) -> QuerySet[Suppression]:
    """Suppressions these workspaces own (a global one, of no workspace, is the admins')."""
    rows = Suppression.objects.all()
    return rows if workspace_ids is None else rows.filter(workspace_id__in=list(workspace_ids))


def suppressions_matching(
    *, workspace_ids: WorkspaceIds, phone: str = "", email: str = ""
) -> QuerySet[Suppression]:
    """The suppressions that stop contact with this phone (E.164) or email (normalized) in
    these workspaces: their own and the global ones. Indexed on the value."""
    match = Q(kind=Suppression.Kind.PHONE, value=phone) if phone else Q(pk__in=[])
    if email:
        match |= Q(kind=Suppression.Kind.EMAIL, value=email)
    rows = Suppression.objects.filter(match).select_related("workspace")
    if workspace_ids is None:
        return rows
    return rows.filter(Q(workspace__isnull=True) | Q(workspace_id__in=list(workspace_ids)))


# The one SQL test of "this lead must not be contacted": its status, or a suppression of
# its phone or email, global or in its workspace. ``l`` is the lead. Other apps use it in
# their claims (reading the leads tables in a join is allowed; writing them is not).
# A fragment joined into other apps' statements (their parameters around it), so its
# constants are written into it from the enums rather than passed.
LEAD_UNREACHABLE_SQL = (
    f"(l.status IN ('{Lead.Status.DNC}', '{Lead.Status.SUPPRESSED}') OR EXISTS (SELECT 1 "
    "FROM leads_suppression x WHERE (x.workspace_id = l.workspace_id OR x.workspace_id IS NULL) "
    f"AND ((x.kind = '{Suppression.Kind.PHONE}' AND x.value = l.phone AND l.phone <> '') OR "
    f"(x.kind = '{Suppression.Kind.EMAIL}' AND x.value = l.email AND l.email <> ''))))"
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
