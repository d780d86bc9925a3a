"""Gateway webhook: delivery receipts, inbound replies and session status of one device."""

import logging

from django.http import JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from broadcast.client import gateway_class
from broadcast.models import Device
from broadcast.services import gateway_event_apply
from core.errors import error_body

logger = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, errors: dict | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, errors), status=status)


@csrf_exempt
@require_POST
def gateway_webhook(request, device_id: int):
    """Signed with ``X-Webhook-Hmac`` (HMAC-SHA512 of the body with the device's webhook
    secret), or ``?token=<webhook secret>`` for gateways that cannot sign."""
    device = Device.objects.filter(pk=device_id).first()
    body = request.body
    token = request.GET.get("token", "")
    gateway = gateway_class(device.gateway_kind) if device is not None else None
    signed = gateway is not None and gateway.verify(body, request.headers, device.webhook_secret)
    tokened = (
        device is not None and bool(token) and constant_time_compare(token, device.webhook_secret)
    )
    if not (signed or tokened):
        return _error(403, "forbidden", "Unknown device or bad signature.")
    try:
        event = gateway.parse_webhook(body)
    except ValueError as exc:
        return _error(400, "invalid", str(exc), {"body": [str(exc)]})
    if event is None:
        return JsonResponse({"ok": True, "ignored": True})
    result = gateway_event_apply(device=device, event=event)
    return JsonResponse({"ok": True, **result})
