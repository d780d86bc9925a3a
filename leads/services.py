"""Lead write paths. Every change records a LeadEvent in the same transaction."""

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from core.errors import ApplicationError
from core.partitions import partition_archive, partitioned_models
from leads import fields as lead_fields
from leads.cold_storage import partitions_cold_store_old
from leads.desk import lead_callback_set, lead_note_add, lead_outcome_set
from leads.errors import INVALID
from leads.events import (
    EventSpec,
    lead_events_record,
    lead_events_record_select,
    lead_events_statement,
)
from leads.intake import IngestResult, lead_ingest_batch, lead_ingest_one
from leads.intake_counts import intake_counts_prune
from leads.models import ApiKey, IdempotencyRecord, Lead, LeadEvent, Suppression, Workspace
from leads.normalize import dedupe_hash, normalize_email, normalize_phone, normalize_row
from leads.people import member_create, membership_remove, membership_set, user_roles_sync
from leads.pipeline import (
    RoutingOutcome,
    lead_send_to_routing,
    leads_lock_for_routing,
    leads_routing_apply,
    leads_routing_apply_statement,
    leads_routing_failed,
    leads_routing_release,
    leads_routing_retry,
    leads_vici_ids_record,
    routing_leads,
)
from leads.signals import lead_changed, lead_status_changed, send_on_commit
from leads.suppressions import suppression_matches

__all__ = [
    "EventSpec",
    "IngestResult",
    "api_key_create",
    "api_key_revoke",
    "idempotency_purge",
    "intake_counts_prune",
    "RoutingOutcome",
    "lead_callback_set",
    "lead_events_record",
    "lead_events_record_select",
    "lead_events_statement",
    "lead_note_add",
    "lead_outcome_set",
    "member_create",
    "membership_remove",
    "membership_set",
    "user_roles_sync",
    "lead_send_to_routing",
    "leads_lock_for_routing",
    "leads_routing_apply",
    "leads_routing_apply_statement",
    "leads_routing_failed",
    "leads_routing_release",
    "leads_routing_retry",
    "leads_vici_ids_record",
    "lead_ingest_batch",
    "lead_ingest_one",
    "lead_status_set",
    "lead_update",
    "routing_leads",
    "leads_mark_dnc",
    "partitions_archive_old",
    "partitions_cold_store_old",
    "suppression_add",
    "suppression_add_many",
    "workspace_create",
]


def lead_status_set(
    *,
    lead_ids: Iterable[int],
    status: str,
    reason: str = "",
    actor: str = "",
    data: dict[str, Any] | None = None,
) -> int:
    """Set the status of many leads at once and record a ``status_changed`` event each."""
    ids = list(lead_ids)
    if not ids:
        return 0
    with transaction.atomic():
        now = timezone.now()
        changed = list(  # locked in id order: a concurrent drain locks the same way
            Lead.objects.select_for_update()
            .filter(id__in=ids)
            .exclude(status=status)
            .order_by("id")
            .values_list("id", "status")
        )
        Lead.objects.filter(id__in=[i for i, _ in changed]).update(
            status=status, status_reason=reason[:255], updated_at=now
        )
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead_id,
                    kind=LeadEvent.Kind.STATUS_CHANGED,
                    message=f"{old} → {status}" + (f": {reason}" if reason else ""),
                    data={"from": old, "to": status, **(data or {})},
                    actor=actor,
                    at=now,
                )
                for lead_id, old in changed
            ]
        )
        if changed:
            send_on_commit(
                lead_status_changed, lead_ids=[i for i, _ in changed], status=status, actor=actor
            )
    return len(changed)


def leads_mark_dnc(*, lead_ids: Iterable[int], reason: str, actor: str, source: str) -> int:
    """Do not contact these leads: what that means, decided here and only here.

    Every channel of each lead is suppressed in its workspace (phone and email), the
    opt-out is recorded, and the status becomes ``dnc``. The apps that contact people react
    to ``lead_status_changed`` (the dialer: VICIdial status and DNC list, open pushes
    cancelled; broadcast: every sequence stopped), and everything that pushes, dials or
    sends re-checks the suppressions before contact. Returns how many leads changed.
    """
    leads = list(
        Lead.objects.filter(id__in=list(lead_ids)).values_list(
            "id", "workspace_id", "phone", "email"
        )
    )
    if not leads:
        return 0
    entries: list[tuple[str, str, int | None]] = []
    for _, workspace_id, phone, email in leads:
        if phone:
            entries.append((Suppression.Kind.PHONE, phone, workspace_id))
        if email:
            entries.append((Suppression.Kind.EMAIL, email, workspace_id))
    with transaction.atomic():
        suppression_add_many(entries=entries, reason=reason, source=source)
        already = set(
            Lead.objects.filter(id__in=[i for i, *_ in leads], status=Lead.Status.DNC).values_list(
                "id", flat=True
            )
        )
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead_id,
                    kind=LeadEvent.Kind.OPTED_OUT,
                    message=reason,
                    data={"source": source},
                    actor=actor,
                )
                for lead_id, *_ in leads
                if lead_id not in already
            ]
        )
        return lead_status_set(
            lead_ids=[i for i, *_ in leads], status=Lead.Status.DNC, reason=reason, actor=actor
        )


def suppression_add(
    *,
    kind: str,
    value: str,
    workspace_id: int | None = None,
    reason: str = "",
    source: str = "",
    actor: str = "",
) -> tuple[Suppression, bool]:
    """Add a phone (E.164) or email (lower-cased) to the do-not-contact list. Idempotent.

    Returns the suppression and whether it was created.
    """
    value = _suppression_value(kind, value)
    with transaction.atomic():
        suppression, created = Suppression.objects.get_or_create(
            kind=kind,
            value=value,
            workspace_id=workspace_id,
            defaults={"reason": reason[:255], "source": source[:64]},
        )
        if created:
            _suppress_matching_leads(kind, value, workspace_id, actor=actor or source)
    return suppression, created


def suppression_remove(*, suppression: Suppression) -> None:
    """Take a phone or email off the do-not-contact list. Leads it suppressed keep their
    status (a person decides whether to contact them again)."""
    suppression.delete()


def _suppress_matching_leads(kind: str, value: str, workspace_id: int | None, actor: str) -> int:
    """Leads that already have a newly suppressed phone or email become ``suppressed``, so
    the dialer stops them in VICIdial and broadcast stops their sequences (both react to
    the status). Indexed on phone and email."""
    leads = Lead.objects.filter(**{kind: value}).exclude(
        status__in=[Lead.Status.DNC, Lead.Status.SUPPRESSED]
    )
    if workspace_id is not None:
        leads = leads.filter(workspace_id=workspace_id)
    return lead_status_set(
        lead_ids=list(leads.values_list("id", flat=True)),
        status=Lead.Status.SUPPRESSED,
        reason=f"the {kind} is on the do-not-contact list",
        actor=actor,
    )


def _suppression_value(kind: str, value: str) -> str:
    if kind == Suppression.Kind.EMAIL:
        return normalize_email(value)
    if kind == Suppression.Kind.PHONE:
        return normalize_phone(value)  # E.164, so "(212) 555-0142" still blocks intake
    raise ValueError(f"unknown suppression kind {kind!r}")


def suppression_add_many(
    *,
    entries: Iterable[tuple[str, str, int | None]],
    reason: str = "",
    source: str = "",
) -> int:
    """Add many (kind, value, workspace_id) suppressions in one INSERT. Idempotent.

    Returns how many were new.
    """
    rows = {
        (kind, _suppression_value(kind, value), workspace_id)
        for kind, value, workspace_id in entries
        if value
    }
    if not rows:
        return 0
    kinds, values, workspaces = (
        list(column) for column in zip(*sorted(rows, key=str), strict=True)
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO leads_suppression (kind, value, workspace_id, reason, source, "
            "created_at, updated_at) SELECT k, v, w, %s, %s, %s, %s "
            "FROM unnest(%s::varchar[], %s::varchar[], %s::bigint[]) AS t(k, v, w) "
            "ON CONFLICT DO NOTHING",
            [reason[:255], source[:64], now, now, kinds, values, workspaces],
        )
        return int(cursor.rowcount)


def workspace_create(*, name: str, kind: str = Workspace.Kind.INTERNAL) -> Workspace:
    name = name.strip()
    if not name:
        raise ApplicationError("A workspace needs a name.", code=INVALID)
    if kind not in Workspace.Kind.values:
        raise ApplicationError(f"Unknown workspace kind {kind!r}.", code=INVALID)
    base = slugify(name)[:70] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return Workspace.objects.create(name=name, slug=slug, kind=kind)


def api_key_create(
    *, workspace: Workspace, name: str = "default", is_staff: bool = False, is_manager: bool = False
) -> tuple[ApiKey, str]:
    """A new key; the raw secret is returned once and only its SHA-256 is stored. A staff
    key (it manages routing for every workspace) only belongs to an internal workspace; a
    manager key configures its own workspace (the configuration API)."""
    if is_staff and workspace.kind != Workspace.Kind.INTERNAL:
        raise ApplicationError(
            "Staff keys belong to internal workspaces only.",
            code=INVALID,
            errors={"is_staff": ["A partner workspace cannot have a staff key."]},
        )
    raw, prefix = ApiKey.generate()
    key = ApiKey.objects.create(
        workspace=workspace,
        name=name[:100] or "default",
        prefix=prefix,
        hashed_key=ApiKey.hash(raw),
        is_staff=is_staff,
        is_manager=is_manager,
    )
    return key, raw


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key: at once in this process, within a few seconds in the other web
    processes (they re-check a key every ``KEY_CACHE_SECONDS``)."""
    from leads.authentication import forget_checked_keys

    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
    forget_checked_keys()
    return api_key


UPDATABLE_FIELDS = lead_fields.UPDATABLE


def lead_update(*, lead: Lead, data: dict[str, Any], actor: str = "") -> Lead:
    """Change a lead's fields (PATCH). Records an ``updated`` event with what changed."""
    clean, errors = normalize_row(data, partial=True)
    if errors:
        raise ApplicationError("Invalid input.", code=INVALID, errors=errors)
    phone = clean.get("phone", lead.phone)
    email = clean.get("email", lead.email)
    if not phone and not email:
        raise ApplicationError(
            "Invalid input.",
            code=INVALID,
            errors={"non_field_errors": ["A lead needs a phone or an email."]},
        )
    with transaction.atomic():
        changed = {}
        for name in UPDATABLE_FIELDS:
            if name in clean and getattr(lead, name) != clean[name]:
                changed[name] = {"from": str(getattr(lead, name)), "to": str(clean[name])}
                setattr(lead, name, clean[name])
        if not changed:
            return lead
        lead.dedupe_hash = dedupe_hash(phone, email)
        lead.updated_at = timezone.now()
        # Filter on the partition key too, so PostgreSQL touches one partition.
        Lead.objects.filter(pk=lead.pk, created_at=lead.created_at).update(
            **{name: getattr(lead, name) for name in changed},
            dedupe_hash=lead.dedupe_hash,
            updated_at=lead.updated_at,
        )
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead.pk,
                    kind=LeadEvent.Kind.UPDATED,
                    message="Updated " + ", ".join(sorted(changed)),
                    data={"changes": changed},
                    actor=actor,
                )
            ]
        )
        if _now_unreachable(lead, changed, actor):
            lead.refresh_from_db()
            return lead  # nothing is mirrored to VICIdial for a lead that must not be called
        send_on_commit(
            lead_changed,
            lead_ids=[lead.pk],
            fields={name: getattr(lead, name) for name in changed},
            actor=actor,
        )
    return lead


def _now_unreachable(lead: Lead, changed: dict[str, Any], actor: str) -> bool:
    """After an edit: is the lead one that must not be contacted? A new phone or email on
    the do-not-contact list makes it ``suppressed`` (status event, dialer and broadcast
    react to the status)."""
    if lead.status in (Lead.Status.DNC, Lead.Status.SUPPRESSED):
        return True
    if "phone" not in changed and "email" not in changed:
        return False
    if not suppression_matches(
        workspace_id=lead.workspace_id,
        phones=[lead.phone] if lead.phone else [],
        emails=[lead.email] if lead.email else [],
    ):
        return False
    lead_status_set(
        lead_ids=[lead.pk],
        status=Lead.Status.SUPPRESSED,
        reason="the new phone or email is on the do-not-contact list",
        actor=actor,
    )
    return True


def partitions_archive_old(*, older_than_days: int, dry_run: bool = False) -> dict[str, list[str]]:
    """Detach every partitioned table's partitions wholly older than the cutoff into
    the ``archive`` schema. Nothing is deleted; history and dedupe still read them."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    return {
        model._meta.label: partition_archive(model, older_than=cutoff, dry_run=dry_run)
        for model in partitioned_models()
    }


def idempotency_purge() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
