"""``GET /api/v1/leads/{id}/`` says where the lead went: the destination workspace's slug, the
rule, the VICIdial list and lead id, the sequence, read with the lead in one query."""

import pytest

from broadcast.models import EnrollmentRequest
from dialer.models import OutboxItem, ViciList, ViciServer
from leads.models import Lead
from routing import services
from routing.models import RoutingRule
from tests.broadcast.fixtures import make_sequence
from tests.routing.factories import make_leads, make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def vici_list(workspace):
    server = ViciServer.objects.create(name="Main dialer", api_url="http://x/api", api_user="u")
    return ViciList.objects.create(server=server, list_id=101, name="Solar CA")


def routed_lead(workspace, vici_list, sequence, **rule):
    make_rule(
        "Solar CA",
        destinations=[{"workspace": workspace, "vici_list": vici_list, "sequence": sequence}],
        **rule,
    )
    [lead_id] = make_leads(workspace, 1, state="CA")
    assert services.route_pending(worker_id="t").routed == 1
    return lead_id


def test_a_routed_lead_says_where_it_went(
    api_client, workspace, vici_list, device, django_assert_max_num_queries
):
    sequence = make_sequence(workspace, name="Welcome")
    lead_id = routed_lead(workspace, vici_list, sequence)
    rule = RoutingRule.objects.get()
    # the key and its last use, the lead with its workspaces and where it went
    with django_assert_max_num_queries(3):
        body = api_client.get(f"/api/v1/leads/{lead_id}/").json()
    placement = body["placement"]
    assert placement["routed_at"] == body["routed_at"] is not None
    assert placement | {"routed_at": None} == {
        "workspace": "acme",
        "routed_at": None,
        "rule": {"id": rule.pk, "name": "Solar CA"},
        "vici_list": {
            "list_id": 101,
            "name": "Solar CA",
            "server": "Main dialer",
            "state": "pending",
        },
        "vici_lead_id": None,
        "sequence": {"id": sequence.pk, "name": "Welcome", "status": "active"},
    }
    # Pushed: the list's state and VICIdial's lead id.
    OutboxItem.objects.filter(lead_id=lead_id).update(state="sent", vici_lead_id=9001)
    Lead.objects.filter(pk=lead_id).update(vici_lead_id=9001, vici_list_number=101)
    placement = api_client.get(f"/api/v1/leads/{lead_id}/").json()["placement"]
    assert placement["vici_list"]["state"] == "sent" and placement["vici_lead_id"] == 9001


def test_a_sequence_waiting_for_a_device_and_a_deleted_rule(api_client, workspace, vici_list):
    sequence = make_sequence(workspace, name="Welcome")  # no active device: the lead waits
    lead_id = routed_lead(workspace, vici_list, sequence)
    assert EnrollmentRequest.objects.filter(status="pending").exists()
    rule_id = RoutingRule.objects.get().pk
    placement = api_client.get(f"/api/v1/leads/{lead_id}/").json()["placement"]
    assert placement["sequence"] == {"id": sequence.pk, "name": "Welcome", "status": "waiting"}
    RoutingRule.objects.get().delete()
    placement = api_client.get(f"/api/v1/leads/{lead_id}/").json()["placement"]
    assert placement["rule"] == {"id": rule_id, "name": None}


def test_a_lead_not_routed_went_nowhere(api_client, workspace):
    [lead_id] = make_leads(workspace, 1)
    assert api_client.get(f"/api/v1/leads/{lead_id}/").json()["placement"] == {
        "workspace": None,
        "routed_at": None,
        "rule": None,
        "vici_list": None,
        "vici_lead_id": None,
        "sequence": None,
    }


def test_a_lead_listed_in_vici_without_a_push_shows_its_list_number(api_client, workspace):
    [lead_id] = make_leads(workspace, 1)
    Lead.objects.filter(pk=lead_id).update(vici_lead_id=77, vici_list_number=555)
    placement = api_client.get(f"/api/v1/leads/{lead_id}/").json()["placement"]
    assert placement["vici_list"] == {"list_id": 555} and placement["vici_lead_id"] == 77


def test_the_schema_documents_the_placement(admin_client):
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()
    placement = schema["components"]["schemas"]["Placement"]["properties"]
    assert set(placement) == {
        "workspace",
        "routed_at",
        "rule",
        "vici_list",
        "vici_lead_id",
        "sequence",
    }
    detail = schema["paths"]["/api/v1/leads/{lead_id}/"]["get"]["responses"]["200"]
    assert detail["content"]["application/json"]["schema"]["$ref"].endswith("/LeadDetail")
