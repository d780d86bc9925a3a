"""VICIdial call-URL webhook: plain GETs (POST accepted), a per-server token, answered fast."""

import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from calllogs.models import ServerHook
from calllogs.services import call_log_upsert_many, record_from_webhook

logger = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def vici_call(request):
    params = {**request.POST.dict(), **request.GET.dict()}  # GET wins, like VICIdial
    server_id, token = params.get("server", ""), params.get("token", "")
    hook = (
        ServerHook.objects.filter(server_id=server_id, token=token).first()
        if server_id.isdigit() and token
        else None
    )
    if hook is None:
        return JsonResponse({"code": "forbidden", "message": "Unknown server or token."},
                            status=403)  # fmt: skip
    try:
        record = record_from_webhook(params)
    except ValueError as exc:
        return JsonResponse({"code": "invalid", "message": str(exc),
                             "errors": {"uniqueid": [str(exc)]}}, status=400)  # fmt: skip
    stats = call_log_upsert_many(server_id=hook.server_id, records=[record], path="webhook")
    return JsonResponse({"ok": True, "new": bool(stats.inserted), "changed": bool(stats.changed)})
