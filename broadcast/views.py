"""Gateway webhook: delivery receipts, inbound replies and session status of one device."""

import hmac
import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from broadcast.client import gateway_class
from broadcast.errors import FORBIDDEN, INVALID
from broadcast.models import Device
from broadcast.services import gateway_event_apply
from core.errors import error_body
from core.secrets import MASK

logger = logging.getLogger(__name__)

# Compared against when the device is unknown, so an unknown id costs the same time.
_NO_SECRET = "x" * 32


def _error(status: int, code: str, message: str, errors: dict | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, errors), status=status)


def _take_token(request) -> str:
    """The ``?token=`` fallback, removed from the request: nothing downstream (the request
    logger, an error report, a request's repr on a log record) can carry it on."""
    token = request.GET.get("token", "")
    if token:
        query = request.GET.copy()
        query["token"] = MASK
        request.GET = query
        request.META["QUERY_STRING"] = query.urlencode(safe="*")
    return token


def _token_matches(given: str, secret: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), secret.encode())


@csrf_exempt
@require_POST
def gateway_webhook(request, device_id: int):
    """Signed with ``X-Webhook-Hmac`` (HMAC-SHA512 of the body with the device's webhook
    secret), or ``?token=<webhook secret>`` for gateways that cannot sign. Both are compared
    in constant time."""
    token = _take_token(request)
    device = Device.objects.filter(pk=device_id).first()
    secret = device.webhook_secret if device is not None else _NO_SECRET
    gateway = gateway_class(device.gateway_kind if device is not None else "")
    signed = gateway.verify(request.body, request.headers, secret)
    tokened = _token_matches(token, secret)
    if device is None or not (signed or tokened):
        return _error(403, FORBIDDEN, "Unknown device or bad signature.")
    try:
        event = gateway.parse_webhook(request.body)
    except ValueError as exc:
        return _error(400, INVALID, str(exc), {"body": [str(exc)]})
    if event is None:
        return JsonResponse({"ok": True, "ignored": True})
    result = gateway_event_apply(device=device, event=event)
    return JsonResponse({"ok": True, **result})
