"""Agent pages: lead search and the lead history page (login required)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from core.db_router import use_replica
from leads.models import Lead, Workspace
from leads.panels import panels_for
from leads.selectors import lead_cold_statement, lead_get, lead_history, lead_search

SEARCH_LIMIT = 100


@login_required
@use_replica
def search(request):
    q = request.GET.get("q", "")
    status = request.GET.get("status", "")
    workspace = Workspace.objects.filter(slug=request.GET.get("workspace", "")).first()
    leads = list(lead_search(workspace=workspace, q=q, status=status)[:SEARCH_LIMIT])
    archived, cold = None, ""
    if q.strip().isdigit() and not leads:
        archived = lead_get(lead_id=int(q))
        if archived is None:
            cold = lead_cold_statement(lead_id=int(q))
    context = {
        "leads": leads,
        "archived": archived,
        "cold": cold,
        "q": q,
        "status": status,
        "workspace": workspace,
        "workspaces": Workspace.objects.only("slug", "name"),
        "statuses": Lead.Status.choices,
        "limit": SEARCH_LIMIT,
    }
    return render(request, "leads/search.html", context)


@login_required
@use_replica
def detail(request, lead_id: int):
    lead = lead_get(lead_id=lead_id)
    if lead is None:
        statement = lead_cold_statement(lead_id=lead_id)
        if not statement:
            raise Http404("No such lead.")
        context = {"lead_id": lead_id, "statement": statement}
        return render(request, "leads/cold.html", context, status=410)
    events = lead_history(lead_id=lead.pk)
    return render(
        request,
        "leads/detail.html",
        {
            "lead": lead,
            "events": events,
            "panels": panels_for(lead),
            "archived": getattr(lead, "is_archived", False),
        },
    )
