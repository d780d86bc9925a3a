from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calllogs import services
from calllogs.callurl import KINDS, URL_NOTES
from calllogs.models import CallLog
from calllogs.selectors import lead_calls
from calllogs.services import webhook_url
from core.api import ConfigPermission, KeyOrModelPermission, LeadSubrecordListView
from dialer.selectors import servers_visible
from leads.api.config import config_scope
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


class CallUrlSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(KINDS))
    url = serializers.CharField()
    note = serializers.CharField()


class ServerCallUrlsView(APIView):
    """The call URLs of a VICIdial server of the key's workspace, to paste into the
    campaign's Start, Dispo and No-Agent URL fields (as its "Server hook" page shows them).
    They carry the server's call-URL token: keep them as you keep the key."""

    permission_classes = [ConfigPermission]
    method_permissions = {"GET": ["dialer.view_viciserver", "calllogs.view_serverhook"]}

    @extend_schema(responses=CallUrlSerializer(many=True))
    def get(self, request: Request, server_id: int) -> Response:
        server = servers_visible(workspace_ids=config_scope(request)).filter(pk=server_id).first()
        if server is None:
            raise NotFound("No such VICIdial server.")
        hook = services.server_hook_ensure(server_id=server.pk)
        if hook is None:  # deleted meanwhile
            raise NotFound("No such VICIdial server.")
        base = request.build_absolute_uri("/")
        rows = [
            {
                "kind": kind,
                "url": webhook_url(hook=hook, base_url=base, kind=kind),
                "note": URL_NOTES[kind],
            }
            for kind in KINDS
        ]
        return Response(CallUrlSerializer(rows, many=True).data)
