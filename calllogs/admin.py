from django.contrib import admin
from django.utils.html import format_html_join

from calllogs.models import CallLog, DispositionMap, ReconciliationRun, ServerHook, WebhookEvent
from calllogs.services import webhook_url
from core.admin import ScopedBigTableAdmin, WorkspaceScopedAdmin
from leads.admin_links import LeadLinkMixin, LeadScopedAdminMixin


@admin.register(ServerHook)
class ServerHookAdmin(WorkspaceScopedAdmin):
    workspace_path = None  # a server's secret: admins only
    list_display = ["server", "last_sync_at", "last_sync_rows", "sync_watermark", "last_error"]
    list_select_related = ["server"]
    search_fields = ["server__name"]
    readonly_fields = [
        "call_urls",
        "sync_watermark",
        "last_sync_at",
        "last_sync_rows",
        "last_error",
    ]
    fields = [
        "server",
        "token",
        "call_urls",
        "sync_watermark",
        "last_sync_at",
        "last_sync_rows",
        "last_error",
    ]

    @admin.display(description="call URLs to paste into the campaign")
    def call_urls(self, obj):
        if not obj.pk:
            return "Save first."
        base = self._base
        rows = (
            (kind, webhook_url(hook=obj, base_url=base, kind=kind))
            for kind in ("start", "dispo", "noagent")
        )
        return format_html_join("", "<p><b>{}</b><br><code>{}</code></p>", rows)

    def get_form(self, request, obj=None, **kwargs):
        self._base = request.build_absolute_uri("/")
        return super().get_form(request, obj, **kwargs)


@admin.register(CallLog)
class CallLogAdmin(LeadScopedAdminMixin, LeadLinkMixin, ScopedBigTableAdmin):
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
    list_filter = ["direction", "status"]
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
