"""The agent desk: the queue and search, the lead page (fields, history, note, outcome) and
its live timeline. Every read goes through a selector given the person's workspaces
(``core.scope``); another workspace's lead is a 404, as one that does not exist."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.actors import user_actor
from core.db_router import use_replica
from core.errors import ApplicationError
from core.scope import workspace_ids_for
from leads import services
from leads.desk import lead_timezone
from leads.forms import NoteForm, OutcomeForm
from leads.models import Lead
from leads.panels import panels_for
from leads.selectors import (
    desk_queue,
    lead_cold_statement,
    lead_get,
    lead_history,
    lead_search,
    timeline_marker,
)

SEARCH_LIMIT = 50
TIMELINE_LIMIT = 200


def _lead_or_404(request, lead_id: int) -> Lead:
    lead = lead_get(lead_id=lead_id, workspace_ids=workspace_ids_for(request.user))
    if lead is None:
        raise Http404("No such lead.")
    return lead


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@use_replica
def queue(request):
    q = request.GET.get("q", "").strip()
    workspace_ids = workspace_ids_for(request.user)
    context = {"q": q, "limit": SEARCH_LIMIT}
    if q:
        context["results"] = list(lead_search(workspace_ids=workspace_ids, q=q)[:SEARCH_LIMIT])
        if not context["results"] and q.isdigit():
            context["archived"] = lead_get(lead_id=int(q), workspace_ids=workspace_ids)
            if context["archived"] is None:
                context["cold"] = lead_cold_statement(lead_id=int(q))
    else:
        context["queue"] = queue = desk_queue(workspace_ids=workspace_ids, now=timezone.now())
        for lead in queue.callbacks_due:  # the promise in the lead's own time
            zone = lead_timezone(lead)
            assert lead.callback_at is not None  # a callback due has its time
            label = f"{lead.callback_at.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"
            lead.callback_label = label  # type: ignore[attr-defined]  # shown by _rows.html
    return render(request, "leads/queue.html", context)


def _render_detail(request, lead, note_form=None, outcome_form=None, status=200):
    events = lead_history(lead_id=lead.pk, limit=TIMELINE_LIMIT)
    zone = lead_timezone(lead)
    context = {
        "lead": lead,
        "events": events,
        "marker": timeline_marker(lead_id=lead.pk),
        "panels": panels_for(lead),
        "archived": getattr(lead, "is_archived", False),
        "may_work": request.user.has_perm("leads.work_lead"),
        "note_form": note_form or NoteForm(),
        "outcome_form": outcome_form or OutcomeForm(),
        "zone": zone.key,
        "local_now": timezone.now().astimezone(zone),
        "callback_local": lead.callback_at.astimezone(zone) if lead.callback_at else None,
    }
    return render(request, "leads/detail.html", context, status=status)


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@use_replica
def detail(request, lead_id: int):
    lead = lead_get(lead_id=lead_id, workspace_ids=workspace_ids_for(request.user))
    if lead is None:
        statement = lead_cold_statement(lead_id=lead_id)
        if not statement:
            raise Http404("No such lead.")
        context = {"lead_id": lead_id, "statement": statement}
        return render(request, "leads/cold.html", context, status=410)
    return _render_detail(request, lead)


@login_required
@permission_required("leads.view_lead", raise_exception=True)
@use_replica
def timeline(request, lead_id: int):
    """The history table alone, for the page's polling: 204 when nothing is new since the
    ``since`` marker the page holds (one indexed query)."""
    lead = _lead_or_404(request, lead_id)
    marker = timeline_marker(lead_id=lead.pk)
    if request.GET.get("since") == marker:
        return HttpResponse(status=204)
    events = lead_history(lead_id=lead.pk, limit=TIMELINE_LIMIT)
    return render(request, "leads/_timeline.html", {"events": events, "marker": marker})


@require_POST
@login_required
@permission_required("leads.work_lead", raise_exception=True)
def note(request, lead_id: int):
    lead = _lead_or_404(request, lead_id)
    form = NoteForm(request.POST)
    if not form.is_valid() or getattr(lead, "is_archived", False):
        return _render_detail(request, lead, note_form=form, status=400)
    try:
        services.lead_note_add(
            lead=lead, text=form.cleaned_data["text"], actor=user_actor(request.user)
        )
    except ApplicationError as exc:
        form.add_error("text", exc.message)
        return _render_detail(request, lead, note_form=form, status=400)
    return redirect("leads-page:detail", lead_id=lead.pk)


@require_POST
@login_required
@permission_required("leads.work_lead", raise_exception=True)
def outcome(request, lead_id: int):
    lead = _lead_or_404(request, lead_id)
    form = OutcomeForm(request.POST)
    if not form.is_valid() or getattr(lead, "is_archived", False):
        return _render_detail(request, lead, outcome_form=form, status=400)
    callback = form.cleaned_data.get("callback_at")
    try:
        services.lead_outcome_set(
            lead=lead,
            outcome=form.cleaned_data["outcome"],
            callback_local=callback.replace(tzinfo=None) if callback else None,
            note=form.cleaned_data.get("note", ""),
            actor=user_actor(request.user),
        )
    except ApplicationError as exc:
        field = next(iter(exc.errors), None)
        form.add_error(field if field in form.fields else None, exc.message)
        return _render_detail(request, lead, outcome_form=form, status=400)
    return redirect("leads-page:detail", lead_id=lead.pk)
