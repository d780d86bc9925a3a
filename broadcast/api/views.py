from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from broadcast import selectors, services
from broadcast.api.serializers import (
    EnrollInputSerializer,
    EnrollmentSerializer,
    EnrollResultSerializer,
    MessageSerializer,
    StopInputSerializer,
)
from broadcast.models import Message
from core.api import KeyOrModelPermission, LeadSubrecordListView
from core.db_router import use_replica
from leads.api.views import WORKSPACE_PARAM, actor_of, lead_in_scope, request_workspace_ids
from leads.models import Lead


class EnrollmentsView(APIView):
    """Enroll up to 10,000 leads in a sequence (idempotent: enrolled leads are skipped).
    201 with what was done; 202 when no device of the sequence is active now: the leads
    wait in a pending enrollment request, enrolled (consent checked then) when one is."""

    permission_classes = [KeyOrModelPermission]
    permission_model = "broadcast.enrollment"

    @extend_schema(
        parameters=[WORKSPACE_PARAM, OpenApiParameter("lead", int)],
        responses=EnrollmentSerializer(many=True),
    )
    @use_replica
    def get(self, request):
        workspace_ids = request_workspace_ids(request)
        lead = request.query_params.get("lead", "")
        if lead and not lead.isdigit():
            raise ValidationError({"lead": ["Must be an integer."]})
        enrollments = selectors.enrollments_for(
            workspace_ids=workspace_ids, lead_id=int(lead) if lead else None
        )
        return Response(EnrollmentSerializer(enrollments[:500], many=True).data)

    @extend_schema(
        request=EnrollInputSerializer,
        responses={201: EnrollResultSerializer, 202: EnrollResultSerializer},
    )
    def post(self, request):
        workspace_ids = request_workspace_ids(request)
        data = EnrollInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sequence = selectors.sequence_get(
            sequence_id=data.validated_data["sequence"], workspace_ids=workspace_ids
        )
        if sequence is None:
            raise ValidationError({"sequence": ["No such sequence in this workspace."]})
        result = services.enrollment_create_many(
            lead_ids=data.validated_data["leads"],
            sequence_id=sequence.pk,
            actor=actor_of(request),
            if_no_device="queue",
        )
        code = status.HTTP_202_ACCEPTED if result.queued else status.HTTP_201_CREATED
        return Response(result.as_dict(), status=code)


class EnrollmentStopView(APIView):
    permission_classes = [KeyOrModelPermission]
    method_permissions = {"POST": ["broadcast.change_enrollment"]}

    @extend_schema(request=StopInputSerializer, responses=EnrollmentSerializer)
    def post(self, request, enrollment_id: int):
        enrollment = selectors.enrollment_get(
            enrollment_id=enrollment_id, workspace_ids=request_workspace_ids(request)
        )
        if enrollment is None:
            raise NotFound("No such enrollment.")
        data = StopInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.enrollment_stop(
            enrollment_id=enrollment.pk,
            reason=data.validated_data["reason"],
            actor=actor_of(request),
        )
        enrollment.refresh_from_db()
        return Response(EnrollmentSerializer(enrollment).data)


class LeadMessagesView(LeadSubrecordListView):
    # A lead's messages, the latest scheduled first (the latest max_rows).
    permission_classes = [KeyOrModelPermission]
    method_permissions = {"GET": ["leads.view_lead", "broadcast.view_message"]}
    serializer_class = MessageSerializer
    lead_lookup = lead_in_scope

    def get_subrecords(self, lead: Lead) -> QuerySet[Message]:
        return selectors.lead_messages(lead_id=lead.pk)
