"""Broadcast's configuration API: devices and sequences with their steps
(``leads.api.config``). A device's gateway API key and webhook secret are write-only."""

from typing import Any

from django.db.models import QuerySet
from django.forms import inlineformset_factory
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from broadcast import selectors, services
from broadcast.admin import StepFormSet
from broadcast.admin_forms import DeviceForm, SequenceApiForm
from broadcast.models import Device, Sequence, Step
from core.api import KeyOrModelPermission
from core.api_forms import form_errors, form_input
from core.db_router import use_replica
from leads.api.config import (
    ConfigDetailView,
    ConfigListView,
    ConfigSerializer,
    Scope,
)
from leads.api.views import WORKSPACE_PARAM, actor_of, request_workspace_ids

STEP_FIELDS = ("position", "delay_minutes", "template", "media_url")
# The inline formset adds its foreign key to the list it is given: a copy of its own.
StepForms: Any = inlineformset_factory(
    Sequence, Step, formset=StepFormSet, fields=list(STEP_FIELDS), extra=0, can_delete=False
)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A device",
            value={
                "name": "wa-1",
                "phone": "+15550001111",
                "gateway_url": "http://127.0.0.1:9/",
                "gateway_session": "s1",
                "gateway_token": "gateway-key",
                "min_interval_seconds": 5,
                "max_interval_seconds": 15,
            },
            request_only=True,
        )
    ]
)
class DeviceSerializer(ConfigSerializer):
    """A sending device. ``gateway_token`` (the gateway's X-Api-Key) and ``webhook_secret``
    are write-only: an empty or missing value keeps the stored one. A new device without a
    webhook secret gets one, answered once as ``generated_webhook_secret``."""

    form_class = DeviceForm
    generated_secret = ""  # set by ``save_form`` when the form generated a webhook secret

    gateway_token = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=200
    )
    clear_gateway_token = serializers.BooleanField(write_only=True, required=False, default=False)
    webhook_secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=64
    )
    has_gateway_token = serializers.SerializerMethodField()
    generated_webhook_secret = serializers.SerializerMethodField(
        help_text="Only in the answer to the POST that generated it (copy it into the "
        "gateway's webhook settings); null otherwise."
    )

    class Meta:
        model = Device
        fields = [
            "id",
            "workspace",
            "name",
            "phone",
            "channel",
            "status",
            "status_reason",
            "gateway_kind",
            "gateway_url",
            "gateway_session",
            "gateway_token",
            "clear_gateway_token",
            "has_gateway_token",
            "webhook_secret",
            "generated_webhook_secret",
            "min_interval_seconds",
            "max_interval_seconds",
            "daily_cap",
            "warmup_days",
            "active_since",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "status_reason", "created_at", "updated_at"]

    def get_has_gateway_token(self, obj: Device) -> bool:
        return bool(obj.gateway_token)

    def get_generated_webhook_secret(self, obj: Device) -> str | None:
        return self.context.get("generated_webhook_secret") or None

    @classmethod
    def scoped(cls, scope: Scope) -> QuerySet[Device]:
        return selectors.devices_for(workspace_ids=scope).select_related("workspace")

    def save_form(self, form: Any) -> Device:
        device = services.device_save(
            device=form.instance,
            status_changed=self.instance is not None and "status" in form.changed_data,
            actor=actor_of(self.context["request"]),
        )
        self.generated_secret = form.generated_webhook_secret
        return device

    @classmethod
    def delete(cls, obj: Device) -> None:
        services.device_delete(device=obj)


class StepSerializer(serializers.ModelSerializer):
    class Meta:
        model = Step
        fields = list(STEP_FIELDS)
        validators: list = []  # the step formset's (positions, placeholders)


class DeviceChoiceField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self) -> QuerySet[Device]:
        return selectors.devices_for(workspace_ids=self.context.get("scope"))


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A sequence with two steps",
            value={
                "name": "Welcome",
                "window_start": "09:00",
                "window_end": "20:00",
                "placeholder_defaults": {"promo": "SUN10"},
                "stop_statuses": ["sale", "dnc"],
                "steps": [
                    {"position": 1, "template": "Hi {first_name}, code {promo}"},
                    {"position": 2, "delay_minutes": 1440, "template": "Still there?"},
                ],
            },
            request_only=True,
        )
    ]
)
class SequenceSerializer(ConfigSerializer):
    """A drip sequence with its steps. Given ``steps`` replace the current ones (in order of
    ``position``); ``devices``: ids of the workspace's devices (empty: every active one)."""

    form_class = SequenceApiForm

    devices = DeviceChoiceField(many=True, required=False)
    steps = StepSerializer(many=True, required=False)

    class Meta:
        model = Sequence
        fields = [
            "id",
            "workspace",
            "name",
            "is_active",
            "devices",
            "window_start",
            "window_end",
            "placeholder_defaults",
            "stop_on_reply",
            "stop_statuses",
            "steps",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    @classmethod
    def scoped(cls, scope: Scope) -> QuerySet[Sequence]:
        return (
            selectors.sequences_for(workspace_ids=scope)
            .select_related("workspace")
            .prefetch_related("devices", "steps")
            .order_by("-id")
        )

    def form_data(self, data: dict[str, Any]) -> dict[str, Any]:
        data.pop("steps", None)
        if "devices" in data:
            data["devices"] = [device.pk for device in data["devices"]]
        return super().form_data(data)

    def write(self) -> Sequence:
        form = self.build_form()
        form_ok = form.is_valid()  # first: the steps are checked with its new defaults
        steps = self.validated_data.get("steps")
        step_errors = self._step_errors(form.instance, steps) if steps is not None else {}
        if not form_ok or step_errors:
            raise ValidationError({**form_errors(form), **step_errors})
        devices = form.cleaned_data["devices"] if "devices" in self.validated_data else None
        return services.sequence_save(sequence=form.instance, devices=devices, steps=steps)

    @staticmethod
    def _step_errors(sequence: Sequence, steps: list[dict[str, Any]]) -> dict[str, Any]:
        """The admin's step formset over the given steps (all new: they replace the old),
        checked against the sequence's new placeholder defaults."""
        probe = Sequence(placeholder_defaults=sequence.placeholder_defaults)
        data: dict[str, Any] = {"steps-TOTAL_FORMS": len(steps), "steps-INITIAL_FORMS": 0}
        for index, step in enumerate(steps):
            values = form_input(StepForms.form, Step(), step)  # the model's defaults
            data.update({f"steps-{index}-{name}": values[name] for name in STEP_FIELDS})
        formset = StepForms(data=data, instance=probe, prefix="steps")
        if formset.is_valid():
            return {}
        rows: dict[str, Any] = {
            str(i): form_errors(f) for i, f in enumerate(formset.forms) if f.errors
        }
        if formset.non_form_errors():
            rows["non_field_errors"] = [str(e) for e in formset.non_form_errors()]
        return {"steps": rows}

    @classmethod
    def delete(cls, obj: Sequence) -> None:
        services.sequence_delete(sequence=obj)


class _KeysMayRead(APIView):
    """GET stays open to every key (enrolling needs the sequences); writes configure."""

    def get_permissions(self) -> Any:
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [KeyOrModelPermission()]
        return super().get_permissions()


class DeviceListView(ConfigListView):
    """GET: the workspace's devices. POST: add one."""

    permission_model = "broadcast.device"
    serializer_class = DeviceSerializer

    def post(self, request: Request) -> Response:
        serializer = self.config_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device = serializer.write()
        assert isinstance(serializer, DeviceSerializer)
        fresh = self.get_queryset().get(pk=device.pk)
        context = {
            **self.get_serializer_context(),
            "generated_webhook_secret": serializer.generated_secret,
        }
        return Response(DeviceSerializer(fresh, context=context).data, status=201)


class DeviceDetailView(ConfigDetailView):
    """A device of the workspace. PATCH ``status`` pauses or resumes it as the admin does.
    DELETE: 409 once it has sent (pause it instead)."""

    permission_model = "broadcast.device"
    serializer_class = DeviceSerializer
    not_found = "No such device."


class SequenceListView(_KeysMayRead, ConfigListView):
    """GET: the workspace's sequences with their steps (up to 500, newest first; every key
    may read them). POST: add one with its steps (a manager key)."""

    permission_model = "broadcast.sequence"
    serializer_class = SequenceSerializer
    pagination_class = None  # a plain list, as it always was

    @extend_schema(parameters=[WORKSPACE_PARAM], responses=SequenceSerializer(many=True))
    @use_replica
    def get(self, request: Request) -> Response:
        workspace_ids = request_workspace_ids(request)
        sequences = SequenceSerializer.scoped(workspace_ids)[:500]
        return Response(self.get_serializer(sequences, many=True).data)


class SequenceDetailView(_KeysMayRead, ConfigDetailView):
    """A sequence of the workspace with its steps. PATCH with ``steps`` replaces them.
    DELETE: 409 once anyone was enrolled (deactivate it instead)."""

    permission_model = "broadcast.sequence"
    serializer_class = SequenceSerializer
    not_found = "No such sequence."

    def get_queryset(self) -> QuerySet[Sequence]:
        if self.request.method == "GET":
            return SequenceSerializer.scoped(request_workspace_ids(self.request))
        return super().get_queryset()
