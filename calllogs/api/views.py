from rest_framework import serializers

from calllogs.models import CallLog
from calllogs.selectors import lead_calls
from core.api import KeyOrModelPermission, LeadSubrecordListView
from leads.api.views import lead_in_scope
from leads.models import Lead


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


class LeadCallsView(LeadSubrecordListView):
    # A lead's calls, newest first (the latest max_rows).
    permission_classes = [KeyOrModelPermission]
    method_permissions = {"GET": ["leads.view_lead", "calllogs.view_calllog"]}
    serializer_class = CallLogSerializer
    lead_lookup = lead_in_scope

    def get_subrecords(self, lead: Lead):
        return lead_calls(lead_id=lead.pk)
