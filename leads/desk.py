"""What an agent does on a lead: notes and outcomes, through the same services as every
other path (the status event, the VICIdial mirror, broadcast stops and suppressions follow
from ``lead_status_set`` and ``leads_mark_dnc``). Re-exported by ``leads.services``."""

import zoneinfo
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError
from leads import errors
from leads.events import EventSpec, lead_events_record
from leads.models import Lead, LeadEvent

NOTE_MAX_LENGTH = 5000
CLOSED = (Lead.Status.SALE, Lead.Status.NOT_INTERESTED, Lead.Status.DNC, Lead.Status.SUPPRESSED)


def lead_timezone(lead: Lead) -> zoneinfo.ZoneInfo:
    """The lead's own time zone, else its workspace's, else UTC."""
    for name in (lead.timezone, getattr(lead.workspace, "timezone", "")):
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def lead_note_add(*, lead: Lead, text: str, actor: str) -> None:
    text = text.strip()
    if not text:
        raise ApplicationError(
            "Write something first.", code=errors.INVALID, errors={"text": ["Empty."]}
        )
    if len(text) > NOTE_MAX_LENGTH:
        raise ApplicationError(
            "Too long.",
            code=errors.INVALID,
            errors={"text": [f"At most {NOTE_MAX_LENGTH} characters."]},
        )
    with transaction.atomic():
        lead_events_record(
            events=[EventSpec(lead_id=lead.pk, kind=LeadEvent.Kind.NOTE, message=text, actor=actor)]
        )


def lead_callback_set(*, lead: Lead, local_time: datetime, actor: str) -> datetime:
    """Promise a call back at ``local_time`` (naive: the lead's time zone). Status
    ``callback`` and ``callback_at``; returns the moment, aware."""
    from leads.services import lead_status_set

    if lead.status in CLOSED:
        raise ApplicationError(
            f"The lead is {lead.get_status_display().lower()}: no callback.", code=errors.CLOSED
        )
    zone = lead_timezone(lead)
    moment = local_time if timezone.is_aware(local_time) else local_time.replace(tzinfo=zone)
    if moment <= timezone.now():
        raise ApplicationError(
            "Pick a time in the future.",
            code=errors.INVALID,
            errors={"callback_at": ["In the past."]},
        )
    with transaction.atomic():
        Lead.objects.filter(pk=lead.pk, created_at=lead.created_at).update(callback_at=moment)
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead.pk,
                    kind=LeadEvent.Kind.CALLBACK_SET,
                    message=f"Call back {moment.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})",
                    data={"callback_at": moment.isoformat(), "timezone": zone.key},
                    actor=actor,
                )
            ]
        )
        lead_status_set(lead_ids=[lead.pk], status=Lead.Status.CALLBACK, actor=actor)
    return moment


OUTCOMES = {
    "sale": Lead.Status.SALE,
    "not_interested": Lead.Status.NOT_INTERESTED,
}


def lead_outcome_set(
    *, lead: Lead, outcome: str, actor: str, callback_local: datetime | None = None, note: str = ""
) -> None:
    """The desk's outcome buttons: sale, not interested, callback (at ``callback_local``) or
    do not contact (``leads_mark_dnc``: suppressed everywhere it must be)."""
    from leads.services import lead_status_set, leads_mark_dnc

    with transaction.atomic():
        if note.strip():
            lead_note_add(lead=lead, text=note, actor=actor)
        if outcome == "callback":
            if callback_local is None:
                raise ApplicationError(
                    "When?", code=errors.INVALID, errors={"callback_at": ["Give a date and time."]}
                )
            lead_callback_set(lead=lead, local_time=callback_local, actor=actor)
        elif outcome == "dnc":
            leads_mark_dnc(
                lead_ids=[lead.pk], reason="asked not to be contacted", actor=actor, source="desk"
            )
        elif outcome in OUTCOMES:
            if lead.status in (Lead.Status.DNC, Lead.Status.SUPPRESSED):
                raise ApplicationError("This lead must not be contacted.", code=errors.CLOSED)
            lead_status_set(lead_ids=[lead.pk], status=OUTCOMES[outcome], actor=actor)
        else:
            raise ApplicationError(
                "Unknown outcome.", code=errors.INVALID, errors={"outcome": [f"{outcome!r}?"]}
            )
        if outcome != "callback" and lead.callback_at is not None:
            Lead.objects.filter(pk=lead.pk, created_at=lead.created_at).update(callback_at=None)
