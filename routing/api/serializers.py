from rest_framework import serializers

from leads.models import Workspace
from routing.models import RoutingRule, RuleCondition, RuleDestination


class ConditionSerializer(serializers.ModelSerializer):
    class Meta:
        model = RuleCondition
        fields = ["group", "field", "operator", "value"]


class DestinationSerializer(serializers.ModelSerializer):
    workspace = serializers.SlugRelatedField(slug_field="slug", queryset=Workspace.objects.all())

    class Meta:
        model = RuleDestination
        fields = [
            "id",
            "workspace",
            "vici_list",
            "sequence",
            "is_active",
            "weight",
            "cap_per_hour",
            "cap_per_day",
            "timezone",
            "schedule_days",
            "schedule_start",
            "schedule_end",
        ]
        read_only_fields = ["id"]


class RuleSerializer(serializers.ModelSerializer):
    conditions = ConditionSerializer(many=True, required=False)
    destinations = DestinationSerializer(many=True, required=False)
    workspaces = serializers.SlugRelatedField(
        slug_field="slug", queryset=Workspace.objects.all(), many=True, required=False
    )

    class Meta:
        model = RoutingRule
        fields = [
            "id",
            "name",
            "is_active",
            "priority",
            "workspaces",
            "sources",
            "distribution",
            "conditions",
            "destinations",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class RuleTestInputSerializer(serializers.Serializer):
    last = serializers.IntegerField(min_value=1, max_value=5000, default=200)


class RuleTestMatchSerializer(serializers.Serializer):
    lead_id = serializers.IntegerField()
    reason = serializers.CharField()
    destination = serializers.CharField()


class RuleTestOutputSerializer(serializers.Serializer):
    tried = serializers.IntegerField()
    matched = RuleTestMatchSerializer(many=True)
