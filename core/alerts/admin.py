"""Alert channels (set by admins; the webhook URL is write-only), and every alert and
delivery attempt, read-only. None belongs to a workspace: admins only."""

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from core.admin import WorkspaceScopedAdmin
from core.alerts import channels
from core.alerts.models import Alert, AlertAttempt, AlertChannel, AlertDelivery, JobRun
from core.safe_url import is_http_url

if TYPE_CHECKING:  # generic only for the type checker (Django's classes are not, at run time)
    _ChannelForm = forms.ModelForm[AlertChannel]
    _DeliveryInline = admin.TabularInline[AlertDelivery, Alert]
    _AttemptInline = admin.TabularInline[AlertAttempt, AlertDelivery]
else:
    _ChannelForm = forms.ModelForm
    _DeliveryInline = _AttemptInline = admin.TabularInline


class AlertChannelForm(_ChannelForm):
    webhook_url = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.PasswordInput(render_value=False),
        help_text="Slack-compatible incoming webhook (http/https). Write-only: stored "
        "encrypted, never shown. Leave empty to keep the current one.",
    )

    class Meta:
        model = AlertChannel
        fields = ["name", "kind", "email_to", "webhook_url", "min_severity", "max_per_hour"]
        fields += ["is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.webhook_url_encrypted:
            self.fields["webhook_url"].help_text = (
                "A webhook URL is set (stored encrypted, never shown). Type a new one to "
                "replace it, or leave empty to keep it."
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, url = data.get("kind"), (data.get("webhook_url") or "").strip()
        if url and not is_http_url(url):
            self.add_error("webhook_url", "Enter an http:// or https:// URL.")  # not echoed
        if kind == AlertChannel.Kind.WEBHOOK and not url:
            if not (self.instance.pk and self.instance.webhook_url_encrypted):
                self.add_error("webhook_url", "A webhook channel needs its URL.")
        if kind == AlertChannel.Kind.EMAIL:
            addresses = [a.strip() for a in (data.get("email_to") or "").split(",") if a.strip()]
            if not addresses:
                self.add_error("email_to", "An e-mail channel needs at least one address.")
            for address in addresses:
                try:
                    forms.EmailField().clean(address)
                except forms.ValidationError:
                    self.add_error("email_to", f"Not an e-mail address: {address[:100]}")
        return data


@admin.register(AlertChannel)
class AlertChannelAdmin(WorkspaceScopedAdmin):
    workspace_path = None
    form = AlertChannelForm
    list_display = ["name", "kind", "min_severity", "max_per_hour", "is_active", "has_url"]
    actions = ["send_test"]

    @admin.display(boolean=True, description="Webhook URL set")
    def has_url(self, obj: AlertChannel) -> bool:
        return bool(obj.webhook_url_encrypted)

    def save_model(self, request: HttpRequest, obj: AlertChannel, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        url = (form.cleaned_data.get("webhook_url") or "").strip()
        if url:
            channels.channel_set_webhook_url(channel=obj, url=url)

    @admin.action(description="Send a test message", permissions=["change"])
    def send_test(self, request: HttpRequest, queryset: Any) -> None:
        for channel in queryset:
            try:
                channels.channel_send_test(channel=channel)
            except channels.SendError as exc:
                self.message_user(request, f"{channel}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{channel}: test message sent.")


class ReadOnlyAdmin(WorkspaceScopedAdmin):
    workspace_path = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeliveryInline(_DeliveryInline):
    model = AlertDelivery
    extra = 0
    fields = ["channel", "event", "status", "attempts", "error", "created_at", "sent_at"]
    readonly_fields = ["channel", "event", "status", "attempts", "error", "created_at", "sent_at"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["summary", "severity", "state", "rule", "fired_at", "resolved_at"]
    list_filter = ["state", "severity", "rule"]
    search_fields = ["key", "summary"]
    inlines = [DeliveryInline]


class AttemptInline(_AttemptInline):
    """Every try at sending the delivery, with the channel's answer."""

    model = AlertAttempt
    extra = 0
    fields = ["at", "ok", "error"]
    readonly_fields = ["at", "ok", "error"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["alert", "channel", "event", "status", "attempts", "error", "created_at"]
    list_filter = ["status", "event", "channel"]
    list_select_related = ["alert", "channel"]
    inlines = [AttemptInline]


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_success_at", "last_failure_at", "last_error"]
