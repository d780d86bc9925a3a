"""Routing destinations in the configuration API: where a rule sends leads, with its caps
and schedule, one destination at a time (``leads.api.config``). A key sees the destinations
of the rules that route only its workspace's leads to its workspace."""

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from broadcast.models import Sequence
from broadcast.selectors import sequences_for
from dialer.models import ViciList
from dialer.selectors import lists_visible
from leads.api.config import ConfigDetailView, ConfigListView, ConfigSerializer, Scope
from routing import selectors, services
from routing.admin import RuleDestinationForm
from routing.models import RoutingRule, RuleDestination


class _ScopedChoice(serializers.PrimaryKeyRelatedField):
    def get_queryset(self) -> QuerySet:
        return self.scoped(self.context.get("scope"))

    def scoped(self, scope: Scope) -> QuerySet:
        raise NotImplementedError


class RuleChoice(_ScopedChoice):
    def scoped(self, scope: Scope) -> QuerySet[RoutingRule]:
        return selectors.rules_visible(workspace_ids=scope)


class ViciListChoice(_ScopedChoice):
    def scoped(self, scope: Scope) -> QuerySet[ViciList]:
        return lists_visible(workspace_ids=scope)


class SequenceChoice(_ScopedChoice):
    def scoped(self, scope: Scope) -> QuerySet[Sequence]:
        return sequences_for(workspace_ids=scope)


class RuleDestinationSerializer(ConfigSerializer):
    """``rule``: a rule id of the workspace; ``workspace``: the destination's slug (the
    key's own when left out); ``vici_list`` and ``sequence``: ids of the workspace's."""

    form_class = RuleDestinationForm

    rule = RuleChoice()
    vici_list = ViciListChoice(required=False, allow_null=True)
    sequence = SequenceChoice(required=False, allow_null=True)

    class Meta:
        model = RuleDestination
        fields = [
            "id",
            "rule",
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

    @classmethod
    def scoped(cls, scope: Scope) -> QuerySet[RuleDestination]:
        return selectors.destinations_visible(workspace_ids=scope).select_related("workspace")

    def save_form(self, form: Any) -> RuleDestination:
        return services.destination_save(destination=form.instance)

    @classmethod
    def delete(cls, obj: RuleDestination) -> None:
        services.destination_delete(destination=obj)


class DestinationListView(ConfigListView):
    """GET: the destinations of the workspace's rules. POST: add one to a rule."""

    permission_model = "routing.ruledestination"
    serializer_class = RuleDestinationSerializer


class DestinationDetailView(ConfigDetailView):
    """One destination: change its caps, schedule or target; DELETE removes it."""

    permission_model = "routing.ruledestination"
    serializer_class = RuleDestinationSerializer
    not_found = "No such destination."
