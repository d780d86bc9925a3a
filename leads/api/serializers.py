from rest_framework import serializers

from leads.models import Lead, LeadEvent


class ConsentSerializer(serializers.Serializer):
    at = serializers.DateTimeField(required=False, allow_null=True)
    text = serializers.CharField(required=False, allow_blank=True)
    url = serializers.URLField(required=False, allow_blank=True)
    ip = serializers.IPAddressField(required=False, allow_null=True)


class LeadInputSerializer(serializers.Serializer):
    """Documents the input; validation itself is ``leads.normalize.normalize_row`` (fast)."""

    first_name = serializers.CharField(required=False, max_length=100)
    last_name = serializers.CharField(required=False, max_length=100)
    phone = serializers.CharField(required=False, help_text="Any format; stored as E.164")
    email = serializers.EmailField(required=False)
    company = serializers.CharField(required=False, max_length=200)
    industry = serializers.CharField(required=False, max_length=100)
    state = serializers.CharField(required=False, max_length=50)
    postal_code = serializers.CharField(required=False, max_length=20)
    timezone = serializers.CharField(required=False, help_text="IANA name")
    source = serializers.CharField(required=False, max_length=100)
    external_id = serializers.CharField(required=False, max_length=100)
    custom = serializers.DictField(required=False)
    consent = ConsentSerializer(required=False)


class IngestResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "duplicate", "suppressed", "rejected"])
    id = serializers.IntegerField(allow_null=True)
    duplicate_of = serializers.IntegerField(allow_null=True)
    errors = serializers.DictField()


class LeadOutputSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", read_only=True)
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
            "first_name",
            "last_name",
            "phone",
            "email",
            "company",
            "industry",
            "state",
            "postal_code",
            "timezone",
            "source",
            "external_id",
            "custom",
            "consent",
            "routed_at",
            "expires_at",
            "vici_lead_id",
            "vici_list_id",
        ]

    def get_consent(self, lead: Lead) -> dict:
        return {
            "at": lead.consent_at.isoformat() if lead.consent_at else None,
            "text": lead.consent_text,
            "url": lead.consent_url,
            "ip": lead.consent_ip,
        }


class LeadEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = LeadEvent
        fields = ["id", "created_at", "kind", "message", "data", "actor"]
