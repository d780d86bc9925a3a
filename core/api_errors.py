"""Django's error pages for the API: JSON in the API's one error shape under /api/ (a path
that resolves to nothing, a body Django cannot parse, a 500), HTML elsewhere."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from core.errors import INVALID, NOT_FOUND, PERMISSION_DENIED, SERVER_ERROR, error_body


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body(INVALID, "Bad request."), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body(PERMISSION_DENIED, "Not allowed."), status=403)
    return defaults.permission_denied(request, exception)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body(NOT_FOUND, "No such resource."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        body = error_body(SERVER_ERROR, "Internal error; the request id is in X-Request-ID.")
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
