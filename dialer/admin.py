import os
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from core.admin import ScopedBigTableAdmin, WorkspaceScopedAdmin
from core.errors import ApplicationError
from core.scope import workspace_ids_for
from dialer import selectors, services
from dialer.models import OutboxItem, ViciList, ViciServer
from leads.admin_links import LeadScopedAdminMixin


def _db_url_problem(url: str) -> str:
    """Why this cannot be the Vici database URL ("" if it can). Never quotes the URL back:
    it holds a password."""
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb"):
        return "Use a URL of the form mysql://user:password@host:3306/asterisk."
    if not parts.hostname or not parts.path.strip("/"):
        return "The URL needs a host and a database name (mysql://user:password@host/asterisk)."
    return ""


class ViciServerForm(forms.ModelForm):
    """The API password and the database URL are write-only: never rendered back (not even
    into the page's HTML), an empty field keeps the stored value, a note says one is set."""

    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: stored encrypted, never shown. Leave empty to keep the current "
        "one, or use the environment variable field instead.",
    )
    db_url = forms.CharField(
        required=False,
        max_length=500,
        label="Database URL",
        widget=forms.PasswordInput(render_value=False),
        help_text="Read-only MySQL/MariaDB URL of the Vici database, for call-log sync "
        "(mysql://user:password@host:3306/asterisk). Write-only: never shown; leave empty to "
        "keep the current one.",
    )
    clear_db_url = forms.BooleanField(
        required=False,
        label="Remove the stored database URL",
        help_text="The call-log sync then reads through the API (phone_number_log).",
    )

    class Meta:
        model = ViciServer
        fields = [
            "name",
            "workspace",
            "api_url",
            "api_user",
            "password",
            "api_password_env",
            "source",
            "timeout_seconds",
            "max_concurrency",
            "max_calls_per_hour",
            "is_active",
            "db_url",
            "clear_db_url",
            "timezone",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.api_password_encrypted:
            self.fields["password"].help_text = (
                "A password is set (stored encrypted, never shown). Type a new one to replace "
                "it, or leave empty to keep it."
            )
        if self.instance.pk and self.instance.db_url:
            self.fields["db_url"].help_text = (
                "A database URL is set (never shown). Type a new one to replace it, or leave "
                "empty to keep it."
            )

    def clean_db_url(self):
        url = self.cleaned_data.get("db_url", "").strip()
        if url and (problem := _db_url_problem(url)):
            raise forms.ValidationError(problem)
        return url or self.instance.db_url  # empty keeps the stored one

    def clean(self):
        data: dict[str, Any] = super().clean() or {}
        if data.get("clear_db_url"):
            data["db_url"] = ""
        has_stored = bool(self.instance.pk and self.instance.api_password_encrypted)
        if not data.get("password") and not data.get("api_password_env") and not has_stored:
            self.add_error("password", "Give a password or an environment variable name.")
        if data.get("password") and (problem := services.password_problem(data["password"])):
            self.add_error("password", problem)
        env_name = data.get("api_password_env")
        if env_name and env_name in os.environ:
            if problem := services.password_problem(os.environ[env_name]):
                self.add_error("api_password_env", f"{env_name}: {problem}")
        return data


@admin.register(ViciServer)
class ViciServerAdmin(WorkspaceScopedAdmin):
    workspace_path = None  # of no workspace: admins only
    form = ViciServerForm
    list_display = [
        "name",
        "workspace",
        "api_url",
        "is_active",
        "state",
        "pending",
        "failed",
        "calls_in_hour",
        "last_success_at",
        "short_error",
        "short_alert",
    ]
    list_select_related = ["workspace"]
    search_fields = ["name"]
    actions = ["drain_now", "resume", "clear_alert"]
    readonly_fields = ["alert", "paused_until", "paused_reason", "last_error", "last_success_at"]

    def get_queryset(self, request):
        return selectors.servers_with_outbox_counts(super().get_queryset(request))

    @admin.display(description="pending", ordering="_pending")
    def pending(self, obj):
        return obj._pending

    @admin.display(description="failed", ordering="_failed")
    def failed(self, obj):
        return obj._failed

    @admin.display(description="state")
    def state(self, obj):
        if obj.paused_until and obj.paused_until > timezone.now():
            return f"PAUSED: {obj.paused_reason[:80]}"
        return "ok" if obj.is_active else "inactive"

    @admin.display(description="last error")
    def short_error(self, obj):
        return obj.last_error[:100]

    @admin.display(description="alert")
    def short_alert(self, obj):
        lines = obj.alert.splitlines()
        more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
        return f"ALERT: {lines[0][:120]}{more}" if lines else ""

    def save_model(self, request, obj, form, change):
        # One write path with the API: a new server gets its call-URL hook at once.
        services.server_save(server=obj, password=form.cleaned_data.get("password") or "")

    @admin.action(description="Drain the outbox now", permissions=["change"])
    def drain_now(self, request, queryset):
        from dialer.tasks import outbox_drain_task

        ids = list(queryset.values_list("pk", flat=True))
        transaction.on_commit(lambda: [outbox_drain_task.delay(i) for i in ids])
        self.message_user(request, f"Drain started for {len(ids)} server(s).")

    @admin.action(description="Resume (after fixing the login)", permissions=["change"])
    def resume(self, request, queryset):
        for server in queryset:
            try:
                note = services.server_resume(server=server)
            except ApplicationError as exc:
                self.message_user(request, f"{server.name}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{server.name}: {note}", messages.SUCCESS)

    @admin.action(description="Clear alert (after fixing its cause)", permissions=["change"])
    def clear_alert(self, request, queryset):
        count = services.server_alert_clear(server_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Cleared the alert of {count} server(s).", messages.SUCCESS)


class ViciListForm(forms.ModelForm):
    """The list form (the admin's and the configuration API's validation)."""

    class Meta:
        model = ViciList
        fields = [
            "server",
            "workspace",
            "list_id",
            "campaign_id",
            "name",
            "is_active",
            "duplicate_check",
            "duplicate_check_days",
            "add_to_hopper",
            "hopper_priority",
            "campaign_dnc_check",
        ]


@admin.register(ViciList)
class ViciListAdmin(WorkspaceScopedAdmin):
    workspace_path = "workspace"
    form = ViciListForm
    list_display = [
        "name",
        "list_id",
        "campaign_id",
        "server",
        "workspace",
        "is_active",
        "duplicate_check",
        "campaign_dnc_check",
        "add_to_hopper",
    ]
    list_filter = ["server", "is_active"]
    list_select_related = ["server", "workspace"]
    search_fields = ["name", "=list_id", "campaign_id"]


@admin.register(OutboxItem)
class OutboxItemAdmin(LeadScopedAdminMixin, ScopedBigTableAdmin):
    workspace_path = "lead_id"
    lead_scope_stamped = True
    list_display = [
        "id",
        "lead_id",
        "operation",
        "server",
        "vici_list",
        "state",
        "attempts",
        "next_attempt_at",
        "vici_lead_id",
        "result",
    ]
    list_filter = ["state", "operation", "server"]
    list_select_related = ["vici_list", "server"]
    search_fields = ["=lead_id"]
    ordering = ["-id"]
    readonly_fields = [f.name for f in OutboxItem._meta.fields]
    actions = ["retry", "retry_all_failed"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="result")
    def result(self, obj):
        """VICIdial's answer (its first line, already scrubbed) or our error."""
        answer = next((line for line in obj.last_response.splitlines() if line.strip()), "")
        return (answer or obj.last_error)[:120]

    @admin.action(description="Retry selected", permissions=["change"])
    def retry(self, request, queryset):
        count = services.outbox_retry(item_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} item(s) will be sent again.")

    @admin.action(description="Retry all failed items (of every server)", permissions=["change"])
    def retry_all_failed(self, request, queryset):
        if workspace_ids_for(request.user) is not None:  # only the failed items in scope
            failed = self.get_queryset(request).filter(state=OutboxItem.State.FAILED)
            count = services.outbox_retry(item_ids=list(failed.values_list("pk", flat=True)))
        else:
            count = services.outbox_retry_all_failed()
        self.message_user(request, f"{count} failed item(s) will be sent again.")
