"""The dialer's signal, and its receivers of lead news: mirror field and status changes into
VICIdial (enqueue only).

``vici_server_added``: sent with ``transaction.on_commit`` (``leads.signals.send_on_commit``)
when a VICIdial server was created (``dialer.services.server_save``). Argument:
``server_id`` (int). The calllogs app's receiver creates the server's call-URL hook; its
hourly sync creates any hook a missed signal left out.
"""

from typing import Any

from django.conf import settings
from django.dispatch import Signal

from dialer import services
from leads.models import Lead
from leads.signals import lead_changed, lead_status_changed

vici_server_added = Signal()

# Statuses after which a lead must never be dialed.
DO_NOT_DIAL = (Lead.Status.DNC, Lead.Status.SUPPRESSED)


def on_lead_changed(
    sender: Any, *, lead_ids: list[int], fields: dict[str, Any], actor: str = "", **kwargs: Any
) -> None:
    services.outbox_enqueue_update(lead_ids=lead_ids, fields=fields)


def on_lead_status_changed(
    sender: Any, *, lead_ids: list[int], status: str, actor: str = "", **kwargs: Any
) -> None:
    if status in DO_NOT_DIAL:
        # An add or move still waiting (minutes, or hours during an outage) must not go out.
        services.outbox_cancel_for_leads(lead_ids=lead_ids, reason=f"the lead became {status}")
        # The number goes on VICIdial's DNC list (every server; even when VICIdial told us:
        # the others do not know), so no other list, campaign or manual dial reaches it.
        services.outbox_enqueue_dnc(lead_ids=lead_ids)
    if actor.startswith("vicidial"):
        return  # VICIdial told us: it already knows
    vici_status = settings.DIALER_STATUS_MAP.get(status)
    if vici_status:
        services.outbox_enqueue_status(lead_ids=lead_ids, status=vici_status)


def connect() -> None:
    lead_changed.connect(on_lead_changed, dispatch_uid="dialer.lead_changed")
    lead_status_changed.connect(on_lead_status_changed, dispatch_uid="dialer.lead_status")
