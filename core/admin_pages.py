"""Admin pages that are not a model: the slowest SQL statements (pg_stat_statements)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from core.pgstats import SORTS, slow_statements
from core.scope import workspace_ids_for


def slow_statements_view(request: HttpRequest) -> HttpResponse:
    """Read-only; admins only (statements of every workspace)."""
    if workspace_ids_for(request.user) is not None:
        raise PermissionDenied
    sort = request.GET.get("sort", "total")
    result = slow_statements(sort=sort if sort in SORTS else "total")
    context = {
        **admin.site.each_context(request),
        "title": "Slowest SQL statements",
        "result": result,
        "sort": sort,
        "sorts": list(SORTS),
    }
    return TemplateResponse(request, "admin/core/slow_statements.html", context)
