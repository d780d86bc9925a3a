from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins
from rest_framework.exceptions import NotFound
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import KeyOrModelPermission, StaffKeyOrModelPermission
from core.db_router import use_replica
from core.scope import workspace_ids_for
from leads.api.serializers import LeadOutputSerializer
from leads.api.views import actor_of, lead_in_scope
from routing import selectors, services
from routing.api.serializers import (
    RuleSerializer,
    RuleTestInputSerializer,
    RuleTestOutputSerializer,
)
from routing.models import RoutingRule


def rule_scope(request: Request) -> frozenset[int] | None:
    """Whose rules: a staff key (of an internal team) manages every rule; a person the rules
    of their workspaces (``routing.selectors.rules_visible``)."""
    if getattr(request.user, "is_api_key", False):
        return None
    return workspace_ids_for(request.user)


def _save(serializer: RuleSerializer, rule: RoutingRule | None) -> RoutingRule:
    data = dict(serializer.validated_data)
    conditions = data.pop("conditions", None)
    destinations = data.pop("destinations", None)
    workspaces = data.pop("workspaces", None)
    return services.rule_save(
        rule=rule,
        data=data,
        conditions=conditions,
        destinations=destinations,
        workspaces=workspaces,
    )


def _queryset(request: Request):
    related = ("conditions", "destinations__workspace", "workspaces")
    rules = selectors.rules_visible(workspace_ids=rule_scope(request))
    return rules.prefetch_related(*related).order_by("-priority", "id")


class RuleListCreateView(mixins.ListModelMixin, generics.GenericAPIView):
    """GET: the rules, limit/offset pages (``count``, ``next``, ``previous``, ``results``)."""

    permission_classes = [StaffKeyOrModelPermission]
    permission_model = "routing.routingrule"
    serializer_class = RuleSerializer
    pagination_class = LimitOffsetPagination
    filter_backends: list = []

    def get_queryset(self):
        return _queryset(self.request)

    @use_replica
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(request=RuleSerializer, responses={201: RuleSerializer})
    def post(self, request: Request) -> Response:
        serializer = RuleSerializer(data=request.data, context={"scope": rule_scope(request)})
        serializer.is_valid(raise_exception=True)
        rule = _save(serializer, None)
        return Response(RuleSerializer(_queryset(request).get(pk=rule.pk)).data, status=201)


class RuleDetailView(APIView):
    permission_classes = [StaffKeyOrModelPermission]
    permission_model = "routing.routingrule"

    def _rule(self, rule_id: int) -> RoutingRule:
        rule = _queryset(self.request).filter(pk=rule_id).first()
        if rule is None:
            raise NotFound("No such rule.")
        return rule

    @extend_schema(responses=RuleSerializer)
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(RuleSerializer(self._rule(rule_id)).data)

    @extend_schema(request=RuleSerializer, responses=RuleSerializer)
    def patch(self, request: Request, rule_id: int) -> Response:
        rule = self._rule(rule_id)
        serializer = RuleSerializer(
            rule, data=request.data, partial=True, context={"scope": rule_scope(request)}
        )
        serializer.is_valid(raise_exception=True)
        _save(serializer, rule)
        return Response(RuleSerializer(self._rule(rule_id)).data)


class RuleTestView(APIView):
    permission_classes = [StaffKeyOrModelPermission]
    method_permissions = {"POST": ["routing.view_routingrule"]}  # it changes nothing

    @extend_schema(request=RuleTestInputSerializer, responses=RuleTestOutputSerializer)
    def post(self, request: Request, rule_id: int) -> Response:
        scope = rule_scope(request)
        rule = selectors.rule_get(rule_id=rule_id, workspace_ids=scope)
        if rule is None:
            raise NotFound("No such rule.")
        params = RuleTestInputSerializer(data=request.data or {})
        params.is_valid(raise_exception=True)
        result = selectors.rule_test(
            rule=rule, last=params.validated_data["last"], workspace_ids=scope
        )
        return Response(
            {
                "tried": result.tried,
                "matched": [
                    {
                        "lead_id": row["lead"]["id"],
                        "reason": row["reason"],
                        "destination": row["destination"],
                    }
                    for row in result.matched
                ],
            }
        )


class LeadRerouteView(APIView):
    permission_classes = [KeyOrModelPermission]
    method_permissions = {"POST": ["leads.change_lead"]}

    @extend_schema(request=None, responses=LeadOutputSerializer)
    def post(self, request: Request, lead_id: int) -> Response:
        lead = lead_in_scope(request, lead_id)
        if lead is None or getattr(lead, "is_archived", False):
            raise NotFound("No such lead.")
        lead = services.lead_reroute(lead=lead, actor=actor_of(request))
        return Response(LeadOutputSerializer(lead).data)
