"""The do-not-contact list in the configuration API: add (idempotent), remove, and check a
phone or email, for the key's workspace (a global suppression is the admins')."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ConfigPermission
from core.api_forms import form_errors
from core.db_router import use_replica
from leads import services, suppressions
from leads.admin import SuppressionForm
from leads.api.config import ConfigDetailView, ConfigListView, ConfigSerializer, Scope, config_scope
from leads.api.views import actor_of, scoped_workspace
from leads.models import Suppression
from leads.normalize import normalize_email, normalize_phone


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A phone",
            value={"kind": "phone", "value": "(213) 555-0100", "reason": "asked"},
            request_only=True,
        )
    ]
)
class SuppressionSerializer(ConfigSerializer):
    """``value``: a phone in any format (stored E.164) or an email (stored lower-cased)."""

    created = True  # set by ``write``: False when the suppression was already there

    form_class = SuppressionForm
    workspace_nullable = True  # global suppressions: admins only

    class Meta:
        model = Suppression
        fields = ["id", "workspace", "kind", "value", "reason", "source", "created_at"]
        read_only_fields = ["id", "created_at"]

    @classmethod
    def scoped(cls, scope: Scope) -> QuerySet[Suppression]:
        return suppressions.suppressions_visible(workspace_ids=scope).select_related("workspace")

    def build_form(self) -> Any:
        form = super().build_form()
        # As in the admin: people who see only some workspaces name one of them.
        form.workspace_required = self.context.get("scope") is not None  # type: ignore[attr-defined]
        return form

    def write(self) -> Suppression:
        """Add, or answer the one already there (adding is idempotent)."""
        form = self.build_form()
        if form.is_valid():
            return self.save_form(form)
        data = form.cleaned_data
        existing = None
        if set(form.errors) == {"__all__"} and data.get("kind") and data.get("value"):
            existing = Suppression.objects.filter(
                kind=data["kind"], value=data["value"], workspace=data.get("workspace")
            ).first()
        if existing is None:
            raise ValidationError(form_errors(form))
        self.created = False
        return existing

    def save_form(self, form: Any) -> Suppression:
        data = form.cleaned_data
        suppression, created = services.suppression_add(
            kind=data["kind"],
            value=data["value"],
            workspace_id=data["workspace"].pk if data.get("workspace") else None,
            reason=data.get("reason") or "",
            source=data.get("source") or "api",
            actor=actor_of(self.context["request"]),
        )
        self.created = created
        return suppression

    @classmethod
    def delete(cls, obj: Suppression) -> None:
        services.suppression_remove(suppression=obj)


class SuppressionListView(ConfigListView):
    """GET: the workspace's suppressions. POST: add a phone or email (201; 200 when it was
    already there: adding is idempotent). Leads with it become ``suppressed``."""

    permission_model = "leads.suppression"
    serializer_class = SuppressionSerializer

    @extend_schema(responses={201: SuppressionSerializer, 200: SuppressionSerializer})
    def post(self, request: Request) -> Response:
        serializer = self.config_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        suppression = serializer.write()
        assert isinstance(serializer, SuppressionSerializer)
        code = status.HTTP_201_CREATED if serializer.created else status.HTTP_200_OK
        return self._answer(suppression, code)


class SuppressionDetailView(ConfigDetailView):
    """GET one suppression; DELETE takes the phone or email off the list."""

    permission_model = "leads.suppression"
    serializer_class = SuppressionSerializer
    not_found = "No such suppression."
    http_method_names = ["get", "delete", "head", "options"]


class CheckInputSerializer(serializers.Serializer):
    phone = serializers.CharField(required=False, max_length=50, help_text="Any format")
    email = serializers.CharField(required=False, max_length=254)

    def validate_phone(self, value: str) -> str:
        try:
            return normalize_phone(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))

    def validate_email(self, value: str) -> str:
        try:
            return normalize_email(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("phone") and not attrs.get("email"):
            raise serializers.ValidationError("Give a phone or an email to check.")
        return attrs


class CheckMatchSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="Null for a global suppression")
    kind = serializers.CharField()
    value = serializers.CharField()
    scope = serializers.ChoiceField(choices=["workspace", "global"])
    reason = serializers.CharField(allow_blank=True)


class CheckOutputSerializer(serializers.Serializer):
    suppressed = serializers.BooleanField()
    matches = CheckMatchSerializer(many=True)


class SuppressionCheckView(APIView):
    """Is this phone or email on the do-not-contact list of the workspace (its own list or
    the global one)? Global entries are named but not numbered: only admins manage them."""

    permission_classes = [ConfigPermission]
    method_permissions = {"GET": ["leads.view_suppression"]}

    @extend_schema(
        parameters=[
            OpenApiParameter("phone", str, description="Any format"),
            OpenApiParameter("email", str),
            OpenApiParameter("workspace", str, description="Workspace slug (people)"),
        ],
        responses=CheckOutputSerializer,
    )
    @use_replica
    def get(self, request: Request) -> Response:
        params = CheckInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        workspace = scoped_workspace(request, required=False)
        scope = frozenset([workspace.pk]) if workspace else config_scope(request)
        rows = suppressions.suppressions_matching(workspace_ids=scope, **params.validated_data)
        matches = [
            {
                "id": row.pk if row.workspace_id else None,
                "kind": row.kind,
                "value": row.value,
                "scope": "workspace" if row.workspace_id else "global",
                "reason": row.reason if row.workspace_id else "",
            }
            for row in rows[:20]
        ]
        return Response({"suppressed": bool(matches), "matches": matches})
