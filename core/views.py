from django.http import JsonResponse

from core.selectors import health_report


def health(request):
    report = health_report()
    status = 503 if report["dependencies_down"] else 200
    return JsonResponse(report, status=status)
