"""/health and /metrics: an anonymous liveness answer for load balancers; the graded
report and the Prometheus page only for the metrics token or an allowed address."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django_prometheus.exports import ExportToDjangoView

from core.access import Access, metrics_access
from core.errors import NOT_AUTHENTICATED, error_body
from core.selectors import health_report, liveness


def _denied() -> JsonResponse:
    response = JsonResponse(
        error_body(NOT_AUTHENTICATED, "A valid metrics token is required."), status=401
    )
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def health(request: HttpRequest) -> HttpResponse:
    access = metrics_access(request)
    if access is Access.DENIED:
        return _denied()
    if access is Access.ANONYMOUS:
        answer = liveness()
        return JsonResponse(answer, status=200 if answer["status"] == "ok" else 503)
    report = health_report()
    return JsonResponse(report, status=503 if report["dependencies_down"] else 200)


def metrics(request: HttpRequest) -> HttpResponse:
    if metrics_access(request) is not Access.GRANTED:
        return _denied()
    response: HttpResponse = ExportToDjangoView(request)
    return response
