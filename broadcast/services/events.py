"""Gateway events of a device: delivery receipts (acks), inbound replies (an opt-out keyword
or a reply that stops the sequence) and session status changes."""

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from broadcast.client import GatewayEvent
from broadcast.models import Device, Enrollment, Message
from broadcast.services.devices import device_set_status
from broadcast.services.stopping import enrollment_stop_for_leads
from leads.models import Lead, LeadEvent
from leads.services import EventSpec, lead_events_record, leads_mark_dnc

logger = logging.getLogger(__name__)


ACK_RANK: dict[str, int] = {
    Message.Status.PENDING: 0,
    Message.Status.SENDING: 1,
    Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.READ: 4,
}


def gateway_event_apply(*, device: Device, event: GatewayEvent) -> dict[str, Any]:
    """Apply one webhook event of a device. Idempotent; acks only move a message forward."""
    if event.kind == "ack":
        return _apply_ack(device, event)
    if event.kind == "message":
        return _apply_inbound(device, event)
    if event.kind == "session":
        return _apply_session(device, event)
    return {"ignored": True}


def _apply_ack(device: Device, event: GatewayEvent) -> dict[str, Any]:
    at = event.at or timezone.now()
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(device_id=device.pk, gateway_id=event.gateway_id)
            .first()
        )
        if message is None:
            return {"matched": False}
        if event.ack == Message.Status.FAILED:
            if message.status in (Message.Status.SENT, Message.Status.SENDING):
                message.status, message.error = Message.Status.FAILED, "gateway: delivery failed"
                message.save(update_fields=["status", "error"])
                Device.objects.filter(pk=device.pk).update(
                    last_error=f"message {message.pk} failed to deliver", last_error_at=at
                )
                lead_events_record(
                    events=[
                        EventSpec(
                            lead_id=message.lead_id,
                            kind=LeadEvent.Kind.MESSAGE_STATUS,
                            message=f"Message step {message.step} was not delivered",
                            actor=f"device:{device.pk}",
                            at=at,
                            data={"message_id": message.pk, "status": Message.Status.FAILED},
                        )
                    ]
                )
            return {"matched": True, "status": message.status}
        changed = []
        if (
            event.ack in (Message.Status.DELIVERED, Message.Status.READ)
            and message.delivered_at is None
        ):
            message.delivered_at = at
            changed.append("delivered_at")
        if event.ack == Message.Status.READ and message.read_at is None:
            message.read_at = at
            changed.append("read_at")
        if ACK_RANK.get(event.ack, 0) > ACK_RANK.get(message.status, 99):
            message.status = event.ack
            changed.append("status")
        if changed:
            message.save(update_fields=changed)
    return {"matched": True, "status": message.status}


def is_opt_out(body: str) -> bool:
    words = body.strip().upper().strip(".!").split()
    return bool(words) and (
        " ".join(words) in settings.BROADCAST_OPT_OUT_KEYWORDS
        or (len(words) <= 3 and words[0] in settings.BROADCAST_OPT_OUT_KEYWORDS)
    )


def _apply_inbound(device: Device, event: GatewayEvent) -> dict[str, Any]:
    lead_ids = list(
        Enrollment.objects.filter(device_id=device.pk, phone=event.sender)
        .order_by("-id")
        .values_list("lead_id", flat=True)[:50]
    )
    if not lead_ids:
        lead_ids = list(
            Lead.objects.filter(workspace_id=device.workspace_id, phone=event.sender).values_list(
                "id", flat=True
            )[:50]
        )
    if not lead_ids:
        logger.info("inbound message on device %s from unknown %s", device.pk, event.sender)
        return {"matched": False}
    lead_ids = sorted(set(lead_ids))
    if (
        event.gateway_id
        and LeadEvent.objects.filter(
            lead_id__in=lead_ids,
            kind=LeadEvent.Kind.MESSAGE_RECEIVED,
            data__gateway_id=event.gateway_id,
        ).exists()
    ):
        return {"matched": True, "duplicate": True}  # the gateway delivered it again
    opt_out = is_opt_out(event.body)
    with transaction.atomic():
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead_id,
                    kind=LeadEvent.Kind.MESSAGE_RECEIVED,
                    message=event.body[:1000],
                    actor=f"device:{device.pk}",
                    at=event.at,
                    data={"gateway_id": event.gateway_id, "from": event.sender},
                )
                for lead_id in lead_ids
            ]
        )
        if opt_out:
            lead_opt_out(
                lead_ids=lead_ids,
                reason=f"opt-out keyword: {event.body[:50]}",
                actor=f"device:{device.pk}",
            )
            return {"matched": True, "opt_out": True}
        stopped = enrollment_stop_for_leads(
            lead_ids=lead_ids,
            reason="replied",
            actor=f"device:{device.pk}",
            only_stop_on_reply=True,
        )
    return {"matched": True, "opt_out": False, "stopped": stopped}


def lead_opt_out(*, lead_ids: list[int], reason: str, actor: str) -> None:
    """Opted out: the lead is do-not-contact (``leads_mark_dnc``: phone and email
    suppressed, status, history) and every sequence stops now, in the same transaction."""
    with transaction.atomic():
        enrollment_stop_for_leads(lead_ids=lead_ids, reason="opted out", actor=actor)
        leads_mark_dnc(lead_ids=lead_ids, reason=reason, actor=actor, source="opt-out")


def _apply_session(device: Device, event: GatewayEvent) -> dict[str, Any]:
    status = event.session_status
    current = device.status
    if status == Device.Status.ACTIVE:
        if current == Device.Status.DISCONNECTED:  # reconnected; pauses and bans stay manual
            device_set_status(
                device=device,
                status=Device.Status.ACTIVE,
                reason="session working again",
                actor="gateway",
            )
    elif status != current and current != Device.Status.BANNED:
        device_set_status(
            device=device,
            status=status,
            reason=f"gateway session {event.raw.get('payload', {}).get('status')}",
            actor="gateway",
        )
    device.refresh_from_db(fields=["status"])
    return {"device_status": device.status}
