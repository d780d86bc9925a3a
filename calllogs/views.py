"""VICIdial call-URL webhook: plain GETs (POST accepted), a per-server token, answered fast."""

import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from calllogs.services import record_from_webhook, webhook_event_store, webhook_server

logger = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def vici_call(request):
    """Validate, store the event with one INSERT and answer; a worker applies it in batches
    within a second or two (idempotent on server, uniqueid and kind)."""
    params = {**request.POST.dict(), **request.GET.dict()}  # GET wins, like VICIdial
    server_id = webhook_server(server=params.get("server", ""), token=params.get("token", ""))
    if server_id is None:
        return JsonResponse({"code": "forbidden", "message": "Unknown server or token."},
                            status=403)  # fmt: skip
    try:
        record_from_webhook(params)
    except ValueError as exc:
        return JsonResponse({"code": "invalid", "message": str(exc),
                             "errors": {"uniqueid": [str(exc)]}}, status=400)  # fmt: skip
    params.pop("token", None)  # the secret is not stored
    webhook_event_store(server_id=server_id, params=params)
    return JsonResponse({"ok": True, "queued": True})
