from collections.abc import Mapping
from typing import Any, cast

from rest_framework import serializers

from broadcast.selectors import sequences_for
from dialer.models import ViciList
from leads.models import Workspace
from leads.selectors import workspaces_visible
from routing.models import RoutingRule, RuleCondition, RuleDestination


class ConditionSerializer(serializers.ModelSerializer):
    class Meta:
        model = RuleCondition
        fields = ["group", "group_name", "field", "operator", "value"]


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
    """``context["scope"]``: the workspace ids of the person writing (None: every one). A
    person names only their workspaces, as sources (at least one) and as destinations."""

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        scope = self.context.get("scope")
        if scope is None:
            return
        visible = workspaces_visible(workspace_ids=scope)
        workspaces = cast(serializers.ManyRelatedField, self.fields["workspaces"])
        workspaces.child_relation.queryset = visible
        destinations = cast("serializers.ListSerializer[Any]", self.fields["destinations"])
        # The nested serializer's fields (its related fields take the scoped querysets).
        destination: Mapping[str, Any] = cast(serializers.Serializer, destinations.child).fields
        destination["workspace"].queryset = visible
        destination["vici_list"].queryset = ViciList.objects.filter(workspace_id__in=scope)
        destination["sequence"].queryset = sequences_for(workspace_ids=scope)

    def validate_workspaces(self, value):
        if self.context.get("scope") is not None and not value:
            raise serializers.ValidationError("Name the workspaces whose leads this rule routes.")
        return value

    def validate(self, attrs):
        scoped = self.context.get("scope") is not None
        if scoped and self.instance is None and not attrs.get("workspaces"):
            raise serializers.ValidationError(
                {"workspaces": ["Name the workspaces whose leads this rule routes."]}
            )
        return attrs


class RuleTestInputSerializer(serializers.Serializer):
    last = serializers.IntegerField(min_value=1, max_value=5000, default=200)


class RuleTestMatchSerializer(serializers.Serializer):
    lead_id = serializers.IntegerField()
    reason = serializers.CharField()
    destination = serializers.CharField(
        allow_blank=True,
        help_text="Slug of the workspace it would go to now (as rules name destinations); "
        "empty when no destination is open.",
    )


class RuleTestOutputSerializer(serializers.Serializer):
    tried = serializers.IntegerField()
    matched = RuleTestMatchSerializer(many=True)
