from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from leads.fields import PROFILE
from leads.intake import CREATED, DUPLICATE, REJECTED, SUPPRESSED
from leads.models import Lead, LeadEvent, Workspace
from leads.placement import placement_of


class ConsentSerializer(serializers.Serializer):
    at = serializers.DateTimeField(required=False, allow_null=True)
    text = serializers.CharField(required=False, allow_blank=True)
    url = serializers.URLField(required=False, allow_blank=True)
    ip = serializers.IPAddressField(required=False, allow_null=True)


def _text_field(name: str) -> serializers.CharField:
    field = Lead._meta.get_field(name)
    assert isinstance(field, models.CharField) and field.max_length  # the text columns
    return serializers.CharField(required=False, max_length=field.max_length)


class LeadInputSerializer(serializers.Serializer):
    """Documents the input; validation itself is ``leads.normalize.normalize_row`` (fast).

    The text fields come from ``leads.fields`` with the model's lengths."""

    phone = serializers.CharField(required=False, help_text="Any format; stored as E.164")
    email = serializers.EmailField(required=False)
    timezone = serializers.CharField(required=False, help_text="IANA name")
    custom = serializers.DictField(required=False)
    consent = ConsentSerializer(required=False)

    def get_fields(self) -> dict[str, serializers.Field]:
        declared = super().get_fields()
        profile = {
            name: declared.pop(name) if name in declared else _text_field(name) for name in PROFILE
        }
        return profile | declared


class IngestResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[CREATED, DUPLICATE, SUPPRESSED, REJECTED])
    id = serializers.IntegerField(allow_null=True)
    duplicate_of = serializers.IntegerField(allow_null=True)
    # A declared field: the serializer's metaclass takes it off the class (``.errors`` stays).
    errors = serializers.DictField()  # type: ignore[assignment]


class LeadOutputSerializer(serializers.ModelSerializer):
    workspace: serializers.SlugRelatedField[Workspace] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    consent = serializers.SerializerMethodField()

    class Meta:
        model = Lead
        fields = [
            "id",
            "workspace",
            "created_at",
            "updated_at",
            "status",
            "status_reason",
            *PROFILE,
            "custom",
            "consent",
            "routed_at",
            "expires_at",
            "vici_lead_id",
            "vici_list_number",
        ]

    def get_consent(self, lead: Lead) -> dict:
        return {
            "at": lead.consent_at.isoformat() if lead.consent_at else None,
            "text": lead.consent_text,
            "url": lead.consent_url,
            "ip": lead.consent_ip,
        }


class PlacedRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_null=True, help_text="None: the rule was deleted.")


class PlacedViciListSerializer(serializers.Serializer):
    list_id = serializers.IntegerField(help_text="VICIdial's list_id")
    name = serializers.CharField(required=False)
    server = serializers.CharField(required=False, help_text="The VICIdial server's name")
    state = serializers.CharField(
        required=False, help_text="The push: pending, in_flight, sent, failed, dead, cancelled"
    )


class PlacedSequenceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField(
        help_text="The enrollment's status, or ``waiting`` (no active device yet)"
    )


class PlacementSerializer(serializers.Serializer):
    workspace = serializers.CharField(allow_null=True, help_text="Destination workspace slug")
    routed_at = serializers.DateTimeField(allow_null=True)
    rule = PlacedRuleSerializer(allow_null=True)
    vici_list = PlacedViciListSerializer(allow_null=True)
    vici_lead_id = serializers.IntegerField(allow_null=True)
    sequence = PlacedSequenceSerializer(allow_null=True, help_text="The newest enrollment")


class LeadDetailSerializer(LeadOutputSerializer):
    """One lead, with where it went (read with the lead: ``lead_get(placement=True)``)."""

    placement = serializers.SerializerMethodField()

    class Meta(LeadOutputSerializer.Meta):
        fields = [*LeadOutputSerializer.Meta.fields, "placement"]

    @extend_schema_field(PlacementSerializer)
    def get_placement(self, lead: Lead) -> dict:
        return PlacementSerializer(placement_of(lead)).data


class LeadEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = LeadEvent
        fields = ["id", "created_at", "kind", "message", "data", "actor"]
