"""The admin site, whose first page is the manager dashboard (``core.dashboard``)."""

from collections.abc import Collection
from typing import Any

from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

from core.dashboard import dashboard_context, workspaces_named
from core.scope import workspace_ids_for

# Who sees the dashboard on the admin's first page (the others see the list of models).
DASHBOARD_PERMISSION = "leads.view_lead"


class LeadbrainAdminSite(AdminSite):
    index_template = "admin/dashboard.html"

    def index(  # type: ignore[override]  # a bad ?workspace= is a 400, not a page
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = dict(extra_context or {})
        if request.user.has_perm(DASHBOARD_PERMISSION):
            visible = workspace_ids_for(request.user)
            chosen = _chosen_workspace(request, visible)
            if chosen is False:
                return HttpResponseBadRequest("Unknown workspace.")
            ids = visible if chosen is None else frozenset({chosen})
            context["dashboard"] = dashboard_context(request, ids)
            context["dashboard_workspaces"] = workspaces_named(visible)
            context["dashboard_workspace"] = chosen
        return super().index(request, context)


def _chosen_workspace(request: HttpRequest, visible: Collection[int] | None) -> int | None | bool:
    """The ``?workspace=`` the person narrowed the dashboard to: None for all of theirs,
    False for a value that is not one of their workspaces (one they may not see answers as
    one that does not exist)."""
    raw = request.GET.get("workspace", "")
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        return False
    value = int(raw)
    if visible is not None and value not in visible:
        return False
    return value
