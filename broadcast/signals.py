"""Receivers of lead news: a lead that must not be contacted, or that bought, stops every
sequence (the dispatcher also re-checks consent before each send)."""

from typing import Any

from broadcast import services
from leads.models import Lead
from leads.signals import lead_status_changed

STOPS_EVERY_SEQUENCE = (Lead.Status.DNC, Lead.Status.SUPPRESSED, Lead.Status.SALE)


def on_lead_status_changed(
    sender: Any, *, lead_ids: list[int], status: str, actor: str = "", **kwargs: Any
) -> None:
    if status in STOPS_EVERY_SEQUENCE:
        services.enrollment_stop_for_leads(
            lead_ids=lead_ids, reason=f"lead became {status}", actor=actor
        )


def connect() -> None:
    lead_status_changed.connect(on_lead_status_changed, dispatch_uid="broadcast.lead_status")
