from rest_framework import serializers
from rest_framework.request import Request

from calllogs.models import CallLog
from calllogs.selectors import lead_calls
from core.api import LeadSubrecordListView
from leads.api.views import IsWorkspaceKeyOrStaff, scoped_workspace
from leads.models import Lead
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


def lead_in_scope(request: Request, lead_id: int) -> Lead | None:
    """The lead, if the request's key (or staff user) may see it."""
    return lead_get(lead_id=lead_id, workspace=scoped_workspace(request, required=False))


class LeadCallsView(LeadSubrecordListView):
    # A lead's calls, newest first (the latest max_rows).
    permission_classes = [IsWorkspaceKeyOrStaff]
    serializer_class = CallLogSerializer
    lead_lookup = lead_in_scope

    def get_subrecords(self, lead: Lead):
        return lead_calls(lead_id=lead.pk)
