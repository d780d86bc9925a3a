from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from core.actors import user_actor
from core.admin import (
    SAFE_JSON_FORMFIELDS,
    ScopedBigTableAdmin,
    ScopedInlineMixin,
    WorkspaceScopedAdmin,
)
from core.errors import ApplicationError
from core.scope import workspace_ids_for
from leads import (
    admin_people,  # noqa: F401 (registers the membership admin)
    services,
)
from leads import fields as lead_fields
from leads.admin_csv import LeadCsvAdminMixin
from leads.admin_filters import CreatedFilter, SuppressionSourceFilter, WorkspaceFilter
from leads.admin_links import LeadIdSearchMixin, LeadLinkMixin, LeadScopedAdminMixin
from leads.models import ApiKey, Lead, LeadEvent, Suppression, Workspace
from leads.normalize import normalize_email, normalize_phone
from leads.selectors import lead_history, lead_scope_q, lead_search


class ApiKeyInline(ScopedInlineMixin, admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    readonly_fields = (
        "prefix",
        "name",
        "is_staff",
        "is_manager",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    fields = readonly_fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdmin):
    workspace_path = "pk"
    list_display = ["name", "slug", "kind", "is_active", "active_keys", "created_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "slug"]
    ordering = ["name"]  # the changelist and the workspace pickers (autocomplete) by name
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ApiKeyInline]
    actions = ["create_api_key"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_keys=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True)))
        )

    @admin.display(description="active keys", ordering="_keys")
    def active_keys(self, obj):
        return obj._keys

    def has_add_api_key_permission(self, request):
        return request.user.has_perm("leads.add_apikey")

    @admin.action(description="Create an API key (shown once)", permissions=["add_api_key"])
    def create_api_key(self, request, queryset):
        for workspace in queryset:
            _, raw = services.api_key_create(workspace=workspace)
            self.message_user(
                request,
                f"New API key for {workspace.slug} (copy it now, it is not shown again): {raw}",
                messages.WARNING,
            )


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["workspace", "name", "is_staff", "is_manager"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        workspace = data.get("workspace")
        if data.get("is_staff") and workspace and workspace.kind != Workspace.Kind.INTERNAL:
            self.add_error("is_staff", "Staff keys belong to internal workspaces only.")
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(WorkspaceScopedAdmin):
    workspace_path = "workspace"
    form = ApiKeyForm
    list_display = [
        "prefix",
        "workspace",
        "name",
        "is_staff",
        "is_manager",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["is_staff", "is_manager", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["workspace"]
    search_fields = ["prefix", "name", "workspace__slug"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj:
            return [
                "workspace",
                "prefix",
                "is_staff",
                "is_manager",
                "created_at",
                "last_used_at",
                "revoked_at",
            ]
        # A staff key manages routing for every workspace, a manager key configures its
        # workspace (more than an integrator may do in the admin): only people who see every
        # workspace may make one.
        return [] if workspace_ids_for(request.user) is None else ["is_staff", "is_manager"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, raw = services.api_key_create(
            workspace=obj.workspace, name=obj.name, is_staff=obj.is_staff, is_manager=obj.is_manager
        )
        obj.pk, obj.prefix, obj.hashed_key = key.pk, key.prefix, key.hashed_key
        obj.created_at, obj.updated_at = key.created_at, key.updated_at
        self.message_user(
            request, f"Copy the new key now, it is not shown again: {raw}", messages.WARNING
        )

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(api_key=key)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).")


class LeadChangeForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = list(lead_fields.EDITABLE)


@admin.register(Lead)
class LeadAdmin(LeadCsvAdminMixin, ScopedBigTableAdmin):
    workspace_path = "workspace"  # or the destination workspace: see scope_queryset
    form = LeadChangeForm
    formfield_overrides = SAFE_JSON_FORMFIELDS
    change_list_template = "admin/leads/lead/change_list.html"
    list_display = [
        "id",
        "full_name",
        "phone",
        "email",
        "workspace",
        "status",
        "source",
        "created_at",
    ]
    list_display_links = ["id", "full_name"]
    list_filter = ["status", WorkspaceFilter, CreatedFilter]
    list_select_related = ["workspace"]
    search_fields = ["phone"]  # the real lookup is get_search_results (indexed columns only)
    search_help_text = "Exact phone (any format), email, external id or lead id."
    ordering = ["-created_at"]
    actions = ["export_csv"]
    readonly_fields = [
        "workspace",
        "status",
        "status_reason",
        "created_at",
        "updated_at",
        "dedupe_hash",
        "consent_at",
        "consent_text",
        "consent_url",
        "consent_ip",
        "routed_at",
        "expires_at",
        "destination_workspace",
        "routing_rule_id",
        "vici_lead_id",
        "vici_list_number",
        "routing_attempts",
        "history",
    ]
    fieldsets = [
        (None, {"fields": ["workspace", "status", "status_reason", "created_at", "updated_at"]}),
        (
            "Person",
            {"fields": list(lead_fields.PERSON)},
        ),
        ("Origin", {"fields": ["source", "external_id", "custom", "dedupe_hash"]}),
        ("Consent", {"fields": ["consent_at", "consent_text", "consent_url", "consent_ip"]}),
        (
            "Routing and dialer",
            {
                "fields": [
                    "routed_at",
                    "expires_at",
                    "destination_workspace",
                    "routing_rule_id",
                    "routing_attempts",
                    "vici_lead_id",
                    "vici_list_number",
                ]
            },
        ),
        ("History", {"fields": ["history"]}),
    ]

    def has_add_permission(self, request):
        return False  # leads come in through the API or the CSV import

    def scope_queryset(self, request, queryset, workspace_ids):
        return queryset.filter(lead_scope_q(workspace_ids))

    def has_export_permission(self, request):
        return request.user.has_perm("leads.export_lead")

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        ids = lead_search(q=search_term).values("id")
        return queryset.filter(id__in=ids), False

    @admin.display(description="name")
    def full_name(self, obj):
        return obj.full_name or "—"

    @admin.display(description="latest events")
    def history(self, obj):
        events = lead_history(lead_id=obj.pk, limit=50)
        if not events:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (f"{e.created_at:%Y-%m-%d %H:%M:%S}", e.get_kind_display(), e.message, e.actor)
                for e in events
            ),
        )
        page = reverse("leads-page:detail", args=[obj.pk])
        return format_html(
            "<table><tr><th>time</th><th>event</th><th>details</th><th>by</th></tr>{}</table>"
            '<p><a href="{}">Full history page</a></p>',
            rows,
            page,
        )

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            services.lead_update(
                lead=Lead.objects.get(pk=obj.pk, created_at=obj.created_at),
                data=data,
                actor=user_actor(request.user),
            )
        except ApplicationError as exc:
            self.message_user(request, f"Not saved: {exc.errors or exc.message}", messages.ERROR)


class SuppressionForm(forms.ModelForm):
    # Set by SuppressionAdmin.get_form: people who see only some workspaces add suppressions
    # to one of them, never global ones.
    workspace_required = False

    class Meta:
        model = Suppression
        fields = ["kind", "value", "workspace", "reason", "source"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if self.workspace_required and not data.get("workspace"):
            self.add_error("workspace", "Choose one of your workspaces.")
        kind, value = data.get("kind"), data.get("value")
        if kind and value:
            try:
                data["value"] = (
                    normalize_phone(value)
                    if kind == Suppression.Kind.PHONE
                    else normalize_email(value)
                )
            except ValueError as exc:
                self.add_error("value", str(exc))
        return data


@admin.register(Suppression)
class SuppressionAdmin(WorkspaceScopedAdmin):
    workspace_path = "workspace"
    form = SuppressionForm
    list_display = ["value", "kind", "workspace", "reason", "source", "created_at"]
    list_filter = ["kind", SuppressionSourceFilter]
    list_select_related = ["workspace"]
    search_fields = ["=value"]
    ordering = ["-created_at"]

    def get_form(
        self,
        request: HttpRequest,
        obj: Suppression | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> "type[forms.ModelForm[Suppression]]":
        form = super().get_form(request, obj, change, **kwargs)
        assert issubclass(form, SuppressionForm)  # built on self.form
        form.workspace_required = workspace_ids_for(request.user) is not None
        return form

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created, _ = services.suppression_add(
            kind=obj.kind,
            value=obj.value,
            workspace_id=obj.workspace_id,
            reason=obj.reason,
            source=obj.source or "admin",
            actor=user_actor(request.user),
        )
        obj.pk = created.pk


@admin.register(LeadEvent)
class LeadEventAdmin(LeadScopedAdminMixin, LeadLinkMixin, LeadIdSearchMixin, ScopedBigTableAdmin):
    list_display = ["created_at", "lead_link", "kind", "message", "actor"]
    list_filter = ["kind"]
    ordering = ["-created_at"]
    lead_scope_stamped = True  # lead_workspace_id / lead_destination_id (leads 0011)
    readonly_fields = ("lead_link", "created_at", "kind", "message", "data", "actor")
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
