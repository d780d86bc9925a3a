from datetime import timedelta

from django.contrib import admin
from django.utils import timezone

from core.scope import workspace_ids_for
from leads.models import Suppression
from leads.selectors import workspaces_visible


class WorkspaceFilter(admin.SimpleListFilter):
    """Lists the person's workspaces from their own small table (never a DISTINCT over
    leads). The changelist's rows are scoped already; this only narrows them."""

    title = "workspace"
    parameter_name = "workspace"

    def lookups(self, request, model_admin):
        workspaces = workspaces_visible(workspace_ids=workspace_ids_for(request.user))
        return [(str(w.pk), w.name) for w in workspaces.only("pk", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(workspace_id=value)
        return queryset


class CreatedFilter(admin.SimpleListFilter):
    title = "created"
    parameter_name = "created"
    options = {"1": "Last 24 hours", "7": "Last 7 days", "30": "Last 30 days"}

    def lookups(self, request, model_admin):
        return list(self.options.items())

    def queryset(self, request, queryset):
        value = self.value()
        if value in self.options:
            since = timezone.now() - timedelta(days=int(value))
            return queryset.filter(created_at__gte=since)
        return queryset


class SuppressionSourceFilter(admin.SimpleListFilter):
    """The sources Leadbrain writes (``Suppression.Source``) and "other" (an API client's own
    or none), never a DISTINCT over the suppression table (millions of rows). Another value
    given in the URL (``?source=crm``) still filters exactly, and is shown as chosen."""

    title = "source"
    parameter_name = "source"
    OTHER = "_other"

    def lookups(self, request, model_admin):
        choices = [*Suppression.Source.choices, (self.OTHER, "Other")]
        value = self.value()
        if value and value not in Suppression.Source.values and value != self.OTHER:
            choices.append((value, value))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.OTHER:
            return queryset.exclude(source__in=Suppression.Source.values)
        if value:
            return queryset.filter(source=value)
        return queryset
