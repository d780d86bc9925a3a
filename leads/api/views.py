from collections.abc import Callable
from typing import Any, Literal, overload

import django_filters
from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actors import api_key_actor, user_actor
from core.api import KeyOrModelPermission
from core.db_router import use_replica
from core.errors import ApplicationError
from core.filters import StorableIsoDateTimeFilter
from core.scope import workspace_ids_for
from leads import services
from leads.api.serializers import (
    IngestResultSerializer,
    LeadDetailSerializer,
    LeadEventSerializer,
    LeadInputSerializer,
    LeadOutputSerializer,
)
from leads.authentication import WorkspacePrincipal
from leads.errors import ARCHIVED, COLD_STORAGE, INVALID
from leads.idempotency import idempotent_call, request_fingerprint
from leads.intake import CREATED, DUPLICATE, REJECTED, SUPPRESSED
from leads.models import Lead, Workspace
from leads.normalize import normalize_email, normalize_phone
from leads.selectors import (
    lead_cold_statement,
    lead_get,
    lead_history,
    leads_visible,
    workspaces_visible,
)

WORKSPACE_PARAM = OpenApiParameter(
    "workspace", str, description="Workspace slug (session users: one of their workspaces)"
)
IDEMPOTENCY_PARAM = OpenApiParameter(
    "Idempotency-Key", str, location=OpenApiParameter.HEADER, required=False
)


# An API key (its workspace) or a signed-in person with the model permission of the method
# (their workspaces). Views name their ``permission_model``; the old name stays for callers.
IsWorkspaceKeyOrStaff = KeyOrModelPermission


def actor_of(request: Request) -> str:
    user = request.user
    if isinstance(user, WorkspacePrincipal):
        return api_key_actor(user.api_key.prefix)
    return user_actor(user)


@overload
def scoped_workspace(request: Request, *, required: Literal[True]) -> Workspace: ...
@overload
def scoped_workspace(request: Request, *, required: bool) -> Workspace | None: ...
def scoped_workspace(request: Request, *, required: bool) -> Workspace | None:
    """The key's workspace; for a person the ``workspace`` query parameter, which must be
    one of theirs (another one is "unknown", as one that does not exist)."""
    user = request.user
    if isinstance(user, WorkspacePrincipal):
        return user.workspace
    slug = request.query_params.get("workspace", "")
    if not slug:
        if required:
            raise ValidationError({"workspace": ["Give the workspace slug as ?workspace=."]})
        return None
    visible = workspaces_visible(workspace_ids=workspace_ids_for(user))
    workspace = visible.filter(slug=slug).first()
    if workspace is None:
        raise ValidationError({"workspace": [f"Unknown workspace {slug!r}."]})
    return workspace


def request_workspace_ids(request: Request) -> frozenset[int] | None:
    """The workspaces this request reads: the key's; a person's ``?workspace=`` (one of
    theirs) or else all of theirs (None: every workspace, for the admin role)."""
    workspace = scoped_workspace(request, required=False)
    if workspace is not None:
        return frozenset([workspace.pk])
    return workspace_ids_for(request.user)


def run_idempotent(
    request: Request, workspace: Workspace, compute: Callable[[], tuple[int, Any]]
) -> Response:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        code, body = compute()
        return Response(body, status=code)
    fingerprint = request_fingerprint(request.method, request.path, request.data)
    code, body, replayed = idempotent_call(
        workspace=workspace, key=key, fingerprint=fingerprint, compute=compute
    )
    response = Response(body, status=code)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return response


SINGLE_STATUS = {CREATED: 201, DUPLICATE: 200, SUPPRESSED: 201, REJECTED: 400}


class LeadFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Lead.Status.choices)
    phone = django_filters.CharFilter(method="filter_phone")
    email = django_filters.CharFilter(method="filter_email")
    created_after = StorableIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = StorableIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Lead
        fields = ["status", "phone", "email", "created_after", "created_before"]

    def filter_phone(self, queryset, name, value):
        try:
            return queryset.filter(phone=normalize_phone(value))
        except ValueError:
            return queryset.none()

    def filter_email(self, queryset, name, value):
        try:
            return queryset.filter(email=normalize_email(value))
        except ValueError:
            return queryset.none()


class LeadListCreateView(generics.ListAPIView):
    """GET: the workspace's leads (filters, cursor pages). POST: one lead."""

    permission_classes = [KeyOrModelPermission]
    permission_model = "leads.lead"
    serializer_class = LeadOutputSerializer
    filterset_class = LeadFilter

    def get_queryset(self) -> QuerySet[Lead]:
        return leads_visible(workspace_ids=request_workspace_ids(self.request))

    @extend_schema(parameters=[WORKSPACE_PARAM])
    @use_replica
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=LeadInputSerializer,
        responses={201: IngestResultSerializer, 200: IngestResultSerializer},
        parameters=[WORKSPACE_PARAM, IDEMPOTENCY_PARAM],
    )
    def post(self, request: Request) -> Response:
        workspace = scoped_workspace(request, required=True)
        data = request.data
        if not isinstance(data, dict):
            raise ValidationError({"non_field_errors": ["The body must be a JSON object."]})

        def compute():
            result = services.lead_ingest_one(
                workspace=workspace, data=data, actor=actor_of(request)
            )
            body = result.as_dict()
            if result.status == REJECTED:
                body = {"code": INVALID, "message": "Invalid lead.", **body}
            if result.duplicate_of is not None:
                return status.HTTP_200_OK, body  # nothing new was stored
            return SINGLE_STATUS[result.status], body

        return run_idempotent(request, workspace, compute)


class LeadBulkView(APIView):
    """Up to BULK_MAX_ROWS leads; one result per row, in input order; bad rows block none."""

    permission_classes = [KeyOrModelPermission]
    permission_model = "leads.lead"

    @extend_schema(
        request=LeadInputSerializer(many=True),
        responses={200: IngestResultSerializer(many=True)},
        parameters=[WORKSPACE_PARAM, IDEMPOTENCY_PARAM],
    )
    def post(self, request: Request) -> Response:
        workspace = scoped_workspace(request, required=True)
        rows = request.data
        if not isinstance(rows, list):
            raise ValidationError({"non_field_errors": ["The body must be a JSON list of leads."]})
        if len(rows) > settings.BULK_MAX_ROWS:
            raise ValidationError(
                {"non_field_errors": [f"At most {settings.BULK_MAX_ROWS} leads per request."]}
            )

        def compute():
            results = services.lead_ingest_batch(
                workspace=workspace, rows=rows, actor=actor_of(request)
            )
            return status.HTTP_200_OK, [r.as_dict() for r in results]

        return run_idempotent(request, workspace, compute)


def lead_in_scope(request: Request, lead_id: int, *, placement: bool = False) -> Lead | None:
    """The lead, if this request may see it (``request_workspace_ids``), else None."""
    return lead_get(
        lead_id=lead_id, workspace_ids=request_workspace_ids(request), placement=placement
    )


def _lead_or_404(request: Request, lead_id: int, *, placement: bool = False) -> Lead:
    lead = lead_in_scope(request, lead_id, placement=placement)
    if lead is None:
        statement = lead_cold_statement(lead_id=lead_id)
        if statement:  # gone from the database: say where it is
            raise ApplicationError(statement, code=COLD_STORAGE, status_code=410)
        raise NotFound("No such lead.")
    return lead


class LeadDetailView(APIView):
    permission_classes = [KeyOrModelPermission]
    permission_model = "leads.lead"

    @extend_schema(responses=LeadDetailSerializer, parameters=[WORKSPACE_PARAM])
    def get(self, request: Request, lead_id: int) -> Response:
        """The lead and where it went (``placement``)."""
        lead = _lead_or_404(request, lead_id, placement=True)
        return Response(LeadDetailSerializer(lead).data)

    @extend_schema(request=LeadInputSerializer, responses=LeadOutputSerializer)
    def patch(self, request: Request, lead_id: int) -> Response:
        lead = _lead_or_404(request, lead_id)
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["The body must be a JSON object."]})
        if getattr(lead, "is_archived", False):
            raise ApplicationError("Archived leads cannot be changed.", code=ARCHIVED)
        lead = services.lead_update(lead=lead, data=request.data, actor=actor_of(request))
        return Response(LeadOutputSerializer(lead).data)


class LeadHistoryView(APIView):
    permission_classes = [KeyOrModelPermission]
    method_permissions = {"GET": ["leads.view_lead", "leads.view_leadevent"]}

    @extend_schema(responses=LeadEventSerializer(many=True), parameters=[WORKSPACE_PARAM])
    @use_replica
    def get(self, request: Request, lead_id: int) -> Response:
        lead = _lead_or_404(request, lead_id)
        events = lead_history(lead_id=lead.pk)
        return Response(LeadEventSerializer(events, many=True).data)
