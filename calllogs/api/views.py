from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from calllogs.models import CallLog
from leads.api.views import IsWorkspaceKeyOrStaff, scoped_workspace
from leads.selectors import lead_get


class CallLogSerializer(serializers.ModelSerializer):
    paths = serializers.ListField(source="path_names", child=serializers.CharField())

    class Meta:
        model = CallLog
        fields = [
            "id",
            "uniqueid",
            "call_time",
            "status",
            "agent",
            "talk_seconds",
            "term_reason",
            "phone",
            "list_id",
            "campaign",
            "call_id",
            "recording_url",
            "direction",
            "paths",
        ]


class LeadCallsView(APIView):
    permission_classes = [IsWorkspaceKeyOrStaff]

    @extend_schema(responses=CallLogSerializer(many=True))
    def get(self, request, lead_id: int):
        lead = lead_get(lead_id=lead_id, workspace=scoped_workspace(request, required=False))
        if lead is None:
            raise NotFound("No such lead.")
        calls = CallLog.objects.filter(lead_id=lead.pk).order_by("-call_time")[:1000]
        return Response(CallLogSerializer(calls, many=True).data)
