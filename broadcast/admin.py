from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count
from django.http import HttpResponse
from django.utils import timezone
from django.utils.html import format_html

from broadcast import (
    admin_enroll,  # noqa: F401 - enrollment requests, the lead action
    services,
)
from broadcast.admin_forms import DeviceForm, SequenceForm
from broadcast.admin_preview import preview_html, preview_of_post
from broadcast.models import Device, Enrollment, Message, Sequence, Step
from broadcast.templating import template_validate
from core.actors import user_actor
from core.admin import (
    LiveFormMixin,
    ScopedBigTableAdmin,
    ScopedInlineMixin,
    WorkspaceScopedAdmin,
)
from leads.admin_links import LeadIdSearchMixin, LeadLinkMixin, LeadScopedAdminMixin

STATUS_COLOURS = {
    "active": "#2e7d32",
    "paused": "#ef6c00",
    "disconnected": "#c62828",
    "banned": "#6a1b9a",
}


@admin.register(Device)
class DeviceAdmin(WorkspaceScopedAdmin):
    workspace_path = "workspace"
    form = DeviceForm  # the API key and webhook secret are write-only
    list_display = [
        "name",
        "phone",
        "workspace",
        "status_badge",
        "sends_today",
        "cap_today",
        "next_send_at",
        "last_sent_at",
        "consecutive_failures",
        "short_error",
    ]
    list_filter = ["status", "channel", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["name", "phone", "gateway_session"]
    actions = ["pause", "resume"]
    readonly_fields = [
        "status_reason",
        "next_send_at",
        "sent_on",
        "sent_today",
        "last_sent_at",
        "consecutive_failures",
        "last_error",
        "last_error_at",
        "webhook_path",
    ]
    fieldsets = [
        (None, {"fields": ["workspace", "name", "phone", "channel", "status", "status_reason"]}),
        (
            "Gateway",
            {
                "fields": [
                    "gateway_kind",
                    "gateway_url",
                    "gateway_session",
                    "gateway_token",
                    "clear_gateway_token",
                    "webhook_secret",
                    "webhook_path",
                ]
            },
        ),
        (
            "Pacing",
            {
                "fields": [
                    "min_interval_seconds",
                    "max_interval_seconds",
                    "daily_cap",
                    "warmup_days",
                    "active_since",
                ]
            },
        ),
        (
            "Live state",
            {
                "fields": [
                    "next_send_at",
                    "sent_on",
                    "sent_today",
                    "last_sent_at",
                    "consecutive_failures",
                    "last_error",
                    "last_error_at",
                ]
            },
        ),
    ]

    def save_model(self, request, obj, form, change):
        services.device_save(  # one write path with the API; the status has its own
            device=obj,
            status_changed=change and "status" in form.changed_data,
            reason=f"set by {request.user}",
            actor=user_actor(request.user),
        )
        if form.generated_webhook_secret:
            self.message_user(
                request,
                f"The webhook secret of {obj} is {form.generated_webhook_secret} : copy it into "
                "the gateway's webhook settings now; it is not shown again.",
                level=messages.WARNING,
            )

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        colour = STATUS_COLOURS.get(obj.status, "#555")
        title = obj.status_reason or obj.get_status_display()
        return format_html(
            '<b style="color:{}" title="{}">{}</b>', colour, title, obj.get_status_display()
        )

    @admin.display(description="sent today")
    def sends_today(self, obj):
        return obj.sent_on_day(timezone.now().date())

    @admin.display(description="cap today")
    def cap_today(self, obj):
        return obj.cap_for(timezone.now().date())

    @admin.display(description="last error")
    def short_error(self, obj):
        return (obj.last_error or "")[:80]

    @admin.display(description="webhook URL path")
    def webhook_path(self, obj):
        if not obj.pk:
            return "(after saving)"
        return f"/webhooks/gateway/{obj.pk}/  (HMAC-SHA512 with the webhook secret)"

    @admin.action(description="Pause the selected devices", permissions=["change"])
    def pause(self, request, queryset):
        count = services.devices_set_status(
            device_ids=queryset.values_list("pk", flat=True),
            status=Device.Status.PAUSED,
            reason=f"paused by {request.user}",
            actor=user_actor(request.user),
        )
        self.message_user(request, f"Paused {count} device(s).")

    @admin.action(description="Resume the selected devices", permissions=["change"])
    def resume(self, request, queryset):
        count = services.devices_set_status(
            device_ids=queryset.values_list("pk", flat=True),
            status=Device.Status.ACTIVE,
            actor=user_actor(request.user),
        )
        self.message_user(request, f"Resumed {count} device(s).")


class StepFormSet(forms.BaseInlineFormSet):
    """Placeholders are checked against the sequence being saved (its new defaults)."""

    def clean(self):
        super().clean()
        defaults = self.instance.placeholder_defaults
        if not isinstance(defaults, dict):
            return  # the sequence form reports it
        positions = set()
        for form in self.forms:
            if not getattr(form, "cleaned_data", None) or form.cleaned_data.get("DELETE"):
                continue
            errors = template_validate(form.cleaned_data.get("template") or "", defaults)
            if errors:
                form.add_error("template", errors)
            position = form.cleaned_data.get("position")
            if position in positions:
                form.add_error("position", "Two steps have this position.")
            positions.add(position)


class StepInline(ScopedInlineMixin, admin.TabularInline):
    model = Step
    formset = StepFormSet
    extra = 1
    fields = ["position", "delay_minutes", "template", "media_url"]
    formfield_overrides = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 3})}}


@admin.register(Sequence)
class SequenceAdmin(LiveFormMixin, WorkspaceScopedAdmin):
    live_name = "preview"
    workspace_path = "workspace"
    form = SequenceForm  # stop statuses as checkboxes, placeholder defaults as rows
    list_display = ["name", "workspace", "is_active", "window_start", "window_end", "steps"]
    list_filter = ["is_active", "workspace"]
    list_select_related = ["workspace"]
    search_fields = ["name"]
    inlines = [StepInline]
    filter_horizontal = ["devices"]
    readonly_fields = ["preview"]
    change_form_template = "admin/broadcast/sequence/change_form.html"
    fields = [
        "workspace",
        "name",
        "is_active",
        "devices",
        "window_start",
        "window_end",
        "placeholder_defaults",
        "stop_on_reply",
        "stop_statuses",
        "preview",
    ]

    def get_queryset(self, request):
        # The step count of every row in the changelist's one query (not a COUNT per row).
        return super().get_queryset(request).annotate(step_count=Count("steps"))

    @admin.display(description="steps")
    def steps(self, obj):
        return obj.step_count

    @admin.display(description="preview (newest lead of the workspace, or a sample)")
    def preview(self, obj):
        if not obj.pk:
            return "Fill in the steps to see them here; saved, this shows the saved steps."
        return preview_html(
            workspace_id=obj.workspace_id,
            defaults=obj.placeholder_defaults,
            steps=obj.steps.values_list("position", "delay_minutes", "template"),
        )

    def get_urls(self):
        return self.live_urls() + super().get_urls()

    def live_answer(self, form, formsets):
        """The sequence form as posted, previewed (nothing saved): the form's live preview."""
        return HttpResponse(preview_of_post(form=form, formsets=formsets))


@admin.register(Enrollment)
class EnrollmentAdmin(LeadLinkMixin, LeadIdSearchMixin, ScopedBigTableAdmin):
    # The sequence's workspace, stamped on the row (enrollment_workspace_idx): no join.
    workspace_path = "workspace_id"
    list_display = [
        "id",
        "lead_link",
        "sequence",
        "device",
        "current_step",
        "status",
        "reason",
        "timezone",
        "created_at",
    ]
    list_filter = ["status", "sequence"]
    list_select_related = ["sequence", "device"]
    ordering = ["-id"]
    actions = ["stop"]
    readonly_fields = [f.name for f in Enrollment._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Stop the selected enrollments", permissions=["change"])
    def stop(self, request, queryset):
        ids = list(queryset.filter(status=Enrollment.Status.ACTIVE).values_list("id", flat=True))
        count = services.enrollment_stop_many(
            enrollment_ids=ids, reason=f"stopped by {request.user}", actor=user_actor(request.user)
        )
        self.message_user(request, f"Stopped {count} enrollment(s).")


@admin.register(Message)
class MessageAdmin(LeadScopedAdminMixin, LeadLinkMixin, LeadIdSearchMixin, ScopedBigTableAdmin):
    lead_scope_stamped = True
    list_display = [
        "id",
        "lead_link",
        "step",
        "device",
        "status",
        "scheduled_at",
        "sent_at",
        "delivered_at",
        "read_at",
        "short_error",
    ]
    list_filter = ["status"]
    ordering = ["-id"]
    readonly_fields = [f.name for f in Message._meta.fields]

    @admin.display(description="error")
    def short_error(self, obj):
        return (obj.error or "")[:80]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
