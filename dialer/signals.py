"""Receivers of lead news: mirror field and status changes into VICIdial (enqueue only)."""

from django.conf import settings

from dialer import services
from leads.signals import lead_changed, lead_status_changed


def on_lead_changed(sender, *, lead_ids, fields, actor="", **kwargs) -> None:
    services.outbox_enqueue_update(lead_ids=lead_ids, fields=fields)


def on_lead_status_changed(sender, *, lead_ids, status, actor="", **kwargs) -> None:
    if actor.startswith("vicidial"):
        return  # VICIdial told us: it already knows
    vici_status = settings.DIALER_STATUS_MAP.get(status)
    if vici_status:
        services.outbox_enqueue_status(lead_ids=lead_ids, status=vici_status)


def connect() -> None:
    lead_changed.connect(on_lead_changed, dispatch_uid="dialer.lead_changed")
    lead_status_changed.connect(on_lead_status_changed, dispatch_uid="dialer.lead_status")
