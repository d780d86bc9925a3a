from datetime import timedelta

from django.contrib import admin
from django.utils import timezone

from leads.models import Workspace


class WorkspaceFilter(admin.SimpleListFilter):
    """Lists workspaces from their own small table (never a DISTINCT over leads)."""

    title = "workspace"
    parameter_name = "workspace"

    def lookups(self, request, model_admin):
        return [(str(w.pk), w.name) for w in Workspace.objects.only("pk", "name")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(workspace_id=self.value())
        return queryset


class CreatedFilter(admin.SimpleListFilter):
    title = "created"
    parameter_name = "created"
    options = {"1": "Last 24 hours", "7": "Last 7 days", "30": "Last 30 days"}

    def lookups(self, request, model_admin):
        return list(self.options.items())

    def queryset(self, request, queryset):
        if self.value() in self.options:
            since = timezone.now() - timedelta(days=int(self.value()))
            return queryset.filter(created_at__gte=since)
        return queryset
