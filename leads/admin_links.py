"""Admin pieces for any changelist of rows that belong to a lead (events, routing log,
retry queue, call logs): a link to the lead's history page and a lead-id search."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from core.admin import ModelAdminMixin
from core.paginators import BranchMergePaginator
from core.scope import workspace_ids_for
from leads.selectors import lead_in_scope, lead_scope_stamped_branches, lead_scope_stamped_q


class LeadLinkMixin:
    """Adds a ``lead_link`` column (use it in ``list_display`` / ``readonly_fields``)."""

    @admin.display(description="lead")
    def lead_link(self, obj):
        if not obj.lead_id:
            return "—"
        url = reverse("leads-page:detail", args=[obj.lead_id])
        return format_html('<a href="{}">#{}</a>', url, obj.lead_id)


class LeadIdSearchMixin(ModelAdminMixin):
    """The search box finds rows by exact lead id (an indexed column), nothing else."""

    search_fields = ["lead_id"]
    search_help_text = "Lead id"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return (queryset.filter(lead_id=int(term)) if term.isdigit() else queryset.none()), False


class LeadScopedAdminMixin(ModelAdminMixin):
    """Rows that belong to a lead are in scope when their lead is (its workspace or the one
    it was routed to): put before ``core.admin.WorkspaceScopedAdmin`` in the bases.
    ``workspace_path`` names the lead: ``"lead"`` (a foreign key) or ``"lead_id"`` (a bare
    id column); either way each row's lead is probed by id (``lead_in_scope``).

    ``lead_scope_stamped``: the rows carry a copy of their lead's workspace and destination
    (``lead_workspace_id``, ``lead_destination_id``, kept by database triggers), and the
    list is read through those columns' indexes, one walk per workspace and column merged
    into the page (``BranchMergePaginator``). Without it a newest-first list probes the
    lead of each row until it has a page, which for a workspace with none or few of the
    table's rows means every row of the table (seconds at millions of rows)."""

    workspace_path: str | None = "lead"
    lead_scope_stamped = False

    def scope_queryset(self, request, queryset, workspace_ids):
        # Both paths end in the row's ``lead_id`` column: each row's lead is probed by its
        # primary key (see ``lead_in_scope``), never a join of every lead in scope. Behind
        # the stamps the probe still decides, so a stamp that names a workspace the lead
        # has left (its month archived, or a reroute racing the row's insert) shows nothing;
        # the paginator applies it to the page's rows only.
        if self.lead_scope_stamped:
            queryset = queryset.filter(lead_scope_stamped_q(workspace_ids))
        return queryset.filter(lead_in_scope(workspace_ids=workspace_ids))

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        workspace_ids = workspace_ids_for(request.user)
        if not self.lead_scope_stamped or workspace_ids is None:
            return super().get_paginator(
                request, queryset, per_page, orphans, allow_empty_first_page
            )
        return BranchMergePaginator(
            queryset,
            per_page,
            orphans,
            allow_empty_first_page,
            branches=lead_scope_stamped_branches(workspace_ids),
            replaces=("lead_workspace_id", "lead_destination_id"),
            probes_on_page=True,  # the lead probe on the page's rows only
        )
