"""Admin of memberships: who works in which workspace, with which role."""

from django import forms
from django.contrib import admin, messages

from core.admin import WorkspaceScopedAdmin
from core.errors import ApplicationError
from leads import services
from leads.admin_filters import WorkspaceFilter
from leads.models import Membership


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "workspace", "role"]


@admin.register(Membership)
class MembershipAdmin(WorkspaceScopedAdmin):
    """Who works where, with which role (the role's group and ``is_staff`` follow)."""

    workspace_path = "workspace"
    form = MembershipForm
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", WorkspaceFilter]
    list_select_related = ["user", "workspace"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "workspace"] if obj else []

    def save_model(self, request, obj, form, change):
        try:
            saved = services.membership_set(user=obj.user, workspace=obj.workspace, role=obj.role)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.membership_remove(user=obj.user, workspace=obj.workspace)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("user", "workspace"):
            self.delete_model(request, membership)
