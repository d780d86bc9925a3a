from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, permissions
from rest_framework.exceptions import NotFound
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.db_router import use_replica
from leads.api.serializers import LeadOutputSerializer
from leads.api.views import IsWorkspaceKeyOrStaff, actor_of, scoped_workspace
from leads.selectors import lead_get
from routing import selectors, services
from routing.api.serializers import (
    RuleSerializer,
    RuleTestInputSerializer,
    RuleTestOutputSerializer,
)
from routing.models import RoutingRule


class IsStaff(permissions.BasePermission):
    """Staff API keys and staff users manage rules."""

    message = "Only staff API keys may manage routing rules."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)


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


def _queryset():
    related = ("conditions", "destinations__workspace", "workspaces")
    return RoutingRule.objects.prefetch_related(*related).order_by("-priority", "id")


class RuleListCreateView(mixins.ListModelMixin, generics.GenericAPIView):
    """GET: the rules, limit/offset pages (``count``, ``next``, ``previous``, ``results``)."""

    permission_classes = [IsStaff]
    serializer_class = RuleSerializer
    pagination_class = LimitOffsetPagination
    filter_backends: list = []

    def get_queryset(self):
        return _queryset()

    @use_replica
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(request=RuleSerializer, responses={201: RuleSerializer})
    def post(self, request: Request) -> Response:
        serializer = RuleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = _save(serializer, None)
        return Response(RuleSerializer(_queryset().get(pk=rule.pk)).data, status=201)


class RuleDetailView(APIView):
    permission_classes = [IsStaff]

    def _rule(self, rule_id: int) -> RoutingRule:
        rule = _queryset().filter(pk=rule_id).first()
        if rule is None:
            raise NotFound("No such rule.")
        return rule

    @extend_schema(responses=RuleSerializer)
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(RuleSerializer(self._rule(rule_id)).data)

    @extend_schema(request=RuleSerializer, responses=RuleSerializer)
    def patch(self, request: Request, rule_id: int) -> Response:
        rule = self._rule(rule_id)
        serializer = RuleSerializer(rule, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        _save(serializer, rule)
        return Response(RuleSerializer(self._rule(rule_id)).data)


class RuleTestView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=RuleTestInputSerializer, responses=RuleTestOutputSerializer)
    def post(self, request: Request, rule_id: int) -> Response:
        rule = RoutingRule.objects.filter(pk=rule_id).first()
        if rule is None:
            raise NotFound("No such rule.")
        params = RuleTestInputSerializer(data=request.data or {})
        params.is_valid(raise_exception=True)
        result = selectors.rule_test(rule=rule, last=params.validated_data["last"])
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
    permission_classes = [IsWorkspaceKeyOrStaff]

    @extend_schema(request=None, responses=LeadOutputSerializer)
    def post(self, request: Request, lead_id: int) -> Response:
        lead = lead_get(lead_id=lead_id, workspace=scoped_workspace(request, required=False))
        if lead is None or getattr(lead, "is_archived", False):
            raise NotFound("No such lead.")
        lead = services.lead_reroute(lead=lead, actor=actor_of(request))
        return Response(LeadOutputSerializer(lead).data)
