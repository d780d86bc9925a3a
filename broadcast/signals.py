"""Signals of the broadcast app, and its receivers of lead news.

``enrollment_requests_waiting``: sent with ``transaction.on_commit`` when pending
enrollment requests may be carried out now (a large admin selection was queued, or a
device of a workspace with waiting requests became active). Argument: ``workspace_ids``
(list[int], or None for every workspace). The receiver
(``broadcast.tasks.enrollment_requests_wake``, connected in ``BroadcastConfig.ready``)
only enqueues the worker task; beat's sweeper carries out whatever a lost wake missed.

Lead news: a lead that must not be contacted, or that bought, stops every sequence (the
dispatcher also re-checks consent before each send).
"""

from typing import Any

from django.dispatch import Signal

from leads.models import Lead
from leads.signals import lead_status_changed

enrollment_requests_waiting = Signal()

STOPS_EVERY_SEQUENCE = (Lead.Status.DNC, Lead.Status.SUPPRESSED, Lead.Status.SALE)


def on_lead_status_changed(
    sender: Any, *, lead_ids: list[int], status: str, actor: str = "", **kwargs: Any
) -> None:
    from broadcast import services  # services send this module's signals

    if status in STOPS_EVERY_SEQUENCE:
        services.enrollment_stop_for_leads(
            lead_ids=lead_ids, reason=f"lead became {status}", actor=actor
        )


def connect() -> None:
    lead_status_changed.connect(on_lead_status_changed, dispatch_uid="broadcast.lead_status")
