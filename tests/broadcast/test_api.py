import pytest
from rest_framework.test import APIClient

from broadcast import services
from broadcast.models import Enrollment, EnrollmentRequest, Message
from tests.broadcast.fixtures import make_sequence
from tests.conftest import make_api_key
from tests.routing.factories import make_leads


@pytest.fixture
def sequence(workspace, device):
    return make_sequence(workspace, "Hi {first_name}", "again", delays=(0, 60))


def test_enroll_leads_by_api(api_client, workspace, sequence):
    ids = make_leads(workspace, 3)
    response = api_client.post(
        "/api/v1/broadcast/enrollments/",
        {"sequence": sequence.pk, "leads": ids + ids[:1]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json() == {"created": 3, "skipped": {"duplicate": 1}, "queued": 0}
    again = api_client.post(
        "/api/v1/broadcast/enrollments/", {"sequence": sequence.pk, "leads": ids}, format="json"
    )
    assert again.json() == {"created": 0, "skipped": {"already_enrolled": 3}, "queued": 0}
    listed = api_client.get(f"/api/v1/broadcast/enrollments/?lead={ids[0]}").json()
    assert [e["sequence"] for e in listed] == [sequence.pk]
    assert api_client.get("/api/v1/broadcast/sequences/").json()[0]["name"] == "Welcome"


def test_bad_enroll_requests_get_per_field_errors(
    api_client, workspace, partner_workspace, gateway
):
    response = api_client.post("/api/v1/broadcast/enrollments/", {"leads": []}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"sequence", "leads"}
    foreign = make_sequence(partner_workspace)
    response = api_client.post(
        "/api/v1/broadcast/enrollments/", {"sequence": foreign.pk, "leads": [1]}, format="json"
    )
    assert response.status_code == 400 and "sequence" in response.json()["errors"]
    response = api_client.get("/api/v1/broadcast/enrollments/?lead=abc")
    assert response.status_code == 400


def test_without_an_active_device_the_api_keeps_the_leads_waiting(api_client, workspace, gateway):
    mine = make_sequence(workspace)  # no device in this workspace yet
    ids = make_leads(workspace, 2)
    response = api_client.post(
        "/api/v1/broadcast/enrollments/", {"sequence": mine.pk, "leads": ids}, format="json"
    )
    assert response.status_code == 202
    assert response.json() == {"created": 0, "skipped": {}, "queued": 2}
    request = EnrollmentRequest.objects.get()
    assert (sorted(request.lead_ids), request.status) == (ids, "pending")
    assert request.actor.startswith("api:")


def test_stop_an_enrollment_and_list_a_leads_messages(api_client, workspace, sequence, gateway):
    ids = make_leads(workspace, 1, first_name="Ann")
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    services.dispatch_run(seconds=0.4)
    messages = api_client.get(f"/api/v1/leads/{ids[0]}/messages/").json()
    assert [(m["step"], m["status"], m["body"]) for m in messages] == [
        (2, "pending", "again"),
        (1, "sent", "Hi Ann"),
    ]
    enrollment = Enrollment.objects.get()
    response = api_client.post(
        f"/api/v1/broadcast/enrollments/{enrollment.pk}/stop/",
        {"reason": "customer called"},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reason"]) == ("stopped", "customer called")
    assert Message.objects.get(step=2).status == "cancelled"


def test_other_workspaces_cannot_see_or_stop(workspace, partner_workspace, sequence):
    ids = make_leads(workspace, 1)
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(partner_workspace)}")
    enrollment = Enrollment.objects.get()
    assert other.post(f"/api/v1/broadcast/enrollments/{enrollment.pk}/stop/").status_code == 404
    assert other.get(f"/api/v1/leads/{ids[0]}/messages/").status_code == 404
    assert Enrollment.objects.get().status == "active"
