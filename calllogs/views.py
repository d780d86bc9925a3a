"""VICIdial call-URL webhook: plain GETs (POST accepted), a per-server token, answered fast."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from calllogs.services import webhook_receive


@csrf_exempt
@require_http_methods(["GET", "POST"])
def vici_call(request):
    """Validate, store the event with one INSERT and answer; a worker applies it in batches
    within a second or two (idempotent on server, uniqueid and kind). GETs normally take
    the WSGI fast path (calllogs/fastpath.py); both answer through ``webhook_receive``."""
    pairs = [(name, value) for name, values in request.GET.lists() for value in values]
    pairs += [  # a name in the query string wins over the body, like VICIdial
        (name, value)
        for name, values in request.POST.lists()
        if name not in request.GET
        for value in values
    ]
    status, body = webhook_receive(pairs=pairs)
    return JsonResponse(body, status=status)
