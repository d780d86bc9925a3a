from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from dialer import selectors, services
from dialer.admin import ViciListForm, ViciServerForm
from dialer.models import ViciList, ViciServer
from leads.api.config import ConfigSerializer, Scope


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A server",
            value={
                "name": "vici-east",
                "api_url": "http://127.0.0.1:9/vicidial/non_agent_api.php",
                "api_user": "crmapi",
                "password": "Secret123",
                "timezone": "America/New_York",
            },
            request_only=True,
        )
    ]
)
class ViciServerSerializer(ConfigSerializer):
    """A VICIdial server. ``password`` and ``db_url`` are write-only (stored encrypted or
    kept from view; an empty value keeps the stored one); ``has_password`` and
    ``has_db_url`` say whether one is set."""

    form_class = ViciServerForm
    workspace_nullable = True

    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="The API user's password (letters and digits). Write-only.",
    )
    db_url = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="mysql://user:password@host:3306/asterisk, for the call-log sync. Write-only.",
    )
    clear_db_url = serializers.BooleanField(write_only=True, required=False, default=False)
    has_password = serializers.SerializerMethodField()
    has_db_url = serializers.SerializerMethodField()

    class Meta:
        model = ViciServer
        fields = [
            "id",
            "name",
            "workspace",
            "api_url",
            "api_user",
            "password",
            "has_password",
            "api_password_env",
            "source",
            "timeout_seconds",
            "max_concurrency",
            "max_calls_per_hour",
            "is_active",
            "db_url",
            "clear_db_url",
            "has_db_url",
            "timezone",
            "paused_until",
            "alert",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "paused_until", "alert", "created_at", "updated_at"]

    def get_has_password(self, obj: ViciServer) -> bool:
        return bool(obj.api_password_encrypted or obj.api_password_env)

    def get_has_db_url(self, obj: ViciServer) -> bool:
        return bool(obj.db_url)

    @classmethod
    def scoped(cls, scope: Scope) -> QuerySet[ViciServer]:
        return selectors.servers_visible(workspace_ids=scope).select_related("workspace")

    def save_form(self, form: Any) -> ViciServer:
        password = form.cleaned_data.get("password") or ""
        return services.server_save(server=form.instance, password=password)

    @classmethod
    def delete(cls, obj: ViciServer) -> None:
        services.server_delete(server=obj)


class ServerChoiceField(serializers.PrimaryKeyRelatedField):
    """A server the scope may use: its own, or one of no workspace (the admins')."""

    def get_queryset(self) -> QuerySet[ViciServer]:
        return selectors.servers_usable(workspace_ids=self.context.get("scope"))


class ViciListSerializer(ConfigSerializer):
    form_class = ViciListForm
    workspace_nullable = True

    server = ServerChoiceField(help_text="A server id: the key's own or a shared one.")

    class Meta:
        model = ViciList
        fields = [
            "id",
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
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    @classmethod
    def scoped(cls, scope: Scope) -> QuerySet[ViciList]:
        return selectors.lists_visible(workspace_ids=scope).select_related("workspace")

    def save_form(self, form: Any) -> ViciList:
        return services.vici_list_save(vici_list=form.instance)

    @classmethod
    def delete(cls, obj: ViciList) -> None:
        services.vici_list_delete(vici_list=obj)
