from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html_join

from calllogs.callurl import KINDS, URL_NOTES
from calllogs.models import (
    CallLog,
    DispositionMap,
    ReconciliationRun,
    ServerHook,
    WebhookDeadLetter,
    WebhookEvent,
)
from calllogs.services import webhook_dead_letters_retry, webhook_url
from calllogs.services.reconcile import NOT_RECONCILABLE
from core.admin import ScopedBigTableAdmin, WorkspaceScopedAdmin
from leads.admin_links import LeadLinkMixin, LeadScopedAdminMixin


@admin.register(ServerHook)
class ServerHookAdmin(WorkspaceScopedAdmin):
    workspace_path = None  # a server's secret: admins only
    list_display = [
        "server",
        "last_sync_at",
        "last_sync_rows",
        "sync_watermark",
        "reconciliation",
        "last_error",
    ]
    list_select_related = ["server"]
    search_fields = ["server__name"]
    readonly_fields = [
        "call_urls",
        "reconciliation",
        "sync_watermark",
        "last_sync_at",
        "last_sync_rows",
        "last_error",
    ]
    fields = [
        "server",
        "token",
        "call_urls",
        "reconciliation",
        "sync_watermark",
        "last_sync_at",
        "last_sync_rows",
        "last_error",
    ]

    @admin.display(description="reconciliation")
    def reconciliation(self, obj):
        return "nightly, from the Vici database" if obj.server.db_url else NOT_RECONCILABLE

    @admin.display(description="call URLs to paste into the campaign")
    def call_urls(self, obj):
        if not obj.pk:
            return "Save first."
        base = self._base
        rows = (
            (URL_NOTES[kind], webhook_url(hook=obj, base_url=base, kind=kind)) for kind in KINDS
        )
        return format_html_join("", "<p>{}<br><code>{}</code></p>", rows)

    def get_form(
        self,
        request: HttpRequest,
        obj: ServerHook | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> "type[forms.ModelForm[ServerHook]]":
        self._base = request.build_absolute_uri("/")
        return super().get_form(request, obj, change, **kwargs)


class CallStatusFilter(admin.SimpleListFilter):
    """Statuses from the disposition table (a few dozen rows), never a DISTINCT over the
    millions of call logs."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        rows = DispositionMap.objects.order_by("status").values_list("status", "name")
        return [(status, f"{status} ({name})") for status, name in rows]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(status=self.value())
        return queryset


@admin.register(CallLog)
class CallLogAdmin(LeadScopedAdminMixin, LeadLinkMixin, ScopedBigTableAdmin):
    lead_scope_stamped = True
    list_display = [
        "call_time",
        "uniqueid",
        "lead_link",
        "status",
        "agent",
        "talk_seconds",
        "direction",
        "list_id",
        "paths",
    ]
    list_filter = ["direction", CallStatusFilter]
    search_fields = ["=uniqueid"]
    ordering = ["-call_time"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DispositionMap)
class DispositionMapAdmin(WorkspaceScopedAdmin):
    workspace_path = None  # what a VICIdial status means for every workspace: admins only
    list_display = ["status", "name", "action", "final"]
    list_editable = ["action", "final"]
    list_filter = ["action", "final"]
    search_fields = ["status", "name"]


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(WorkspaceScopedAdmin):
    workspace_path = None  # per server: admins only
    list_display = [
        "day",
        "server",
        "vici_calls",
        "missing",
        "differing",
        "drift_after",
        "started_at",
    ]
    list_filter = ["server"]
    list_select_related = ["server"]
    search_fields = ["server__name"]

    def has_add_permission(self, request):
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(WorkspaceScopedAdmin):
    """Call-URL requests stored but not applied yet (normally empty within seconds)."""

    workspace_path = None  # per server: admins only

    list_display = ["id", "server", "received_at", "params"]
    list_filter = ["server"]
    list_select_related = ["server"]
    ordering = ["id"]
    readonly_fields = ["server", "received_at", "params"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDeadLetter)
class WebhookDeadLetterAdmin(WorkspaceScopedAdmin):
    """Call-URL events the drain could not apply, with the reason; "retry" queues them again
    (after a fix), and one that fails again comes back here."""

    workspace_path = None  # per server: admins only

    list_display = ["id", "server", "received_at", "failed_at", "error", "params"]
    list_filter = ["server"]
    list_select_related = ["server"]
    ordering = ["-id"]
    readonly_fields = ["server", "received_at", "failed_at", "error", "params"]
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Retry the selected events", permissions=["change"])
    def retry(self, request, queryset):
        queued = webhook_dead_letters_retry(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{queued} event(s) queued again.", messages.SUCCESS)
