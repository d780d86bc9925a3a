import json
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from leads.models import Lead, LeadEvent
from leads.services import api_key_revoke, suppression_add
from tests.conftest import make_api_key

pytestmark = pytest.mark.django_db

LEAD = {"first_name": "Ana", "phone": "+1 213 456 7890", "email": "ana@example.com"}


def test_post_one_lead_created_then_duplicate(api_client):
    first = api_client.post("/api/v1/leads/", LEAD, format="json")
    assert first.status_code == 201
    assert first.json()["status"] == "created"
    again = api_client.post("/api/v1/leads/", LEAD, format="json")
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["duplicate_of"] == first.json()["id"]


def test_post_bad_lead_is_400_with_field_errors(api_client):
    response = api_client.post("/api/v1/leads/", {"phone": "12"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["phone"]
    assert Lead.objects.count() == 0


def test_bulk_returns_one_result_per_row_in_order(api_client):
    rows = [LEAD, {"phone": "nope"}, {"email": "b@example.com"}, LEAD]
    response = api_client.post("/api/v1/leads/bulk/", rows, format="json")
    assert response.status_code == 200
    body = response.json()
    assert [r["index"] for r in body] == [0, 1, 2, 3]
    assert [r["status"] for r in body] == ["created", "rejected", "created", "duplicate"]
    assert body[1]["errors"]["phone"]
    assert body[3]["duplicate_of"] == body[0]["id"]
    assert Lead.objects.count() == 2


@pytest.mark.parametrize("body", [{"leads": []}, "text", 5])
def test_bulk_body_that_is_not_a_list_is_400(api_client, body):
    response = api_client.post("/api/v1/leads/bulk/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_bulk_over_the_row_limit_is_400(api_client, settings):
    settings.BULK_MAX_ROWS = 3
    response = api_client.post("/api/v1/leads/bulk/", [LEAD] * 4, format="json")
    assert response.status_code == 400
    assert Lead.objects.count() == 0


def test_malformed_json_is_400_not_500(api_client):
    response = api_client.post(
        "/api/v1/leads/bulk/", data="[{bad json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_body_over_the_size_limit_is_413(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api_client.post("/api/v1/leads/bulk/", [LEAD] * 30, format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_unknown_or_revoked_key_is_401(workspace):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Api-Key lb_deadbeef_nope")
    assert client.get("/api/v1/leads/").status_code == 401
    raw = make_api_key(workspace)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert client.get("/api/v1/leads/").status_code == 200
    api_key_revoke(api_key=workspace.api_keys.get())
    assert client.get("/api/v1/leads/").status_code == 401
    assert APIClient().get("/api/v1/leads/").status_code in (401, 403)


def test_a_key_sees_only_its_workspace(api_client, partner_workspace):
    mine = api_client.post("/api/v1/leads/", LEAD, format="json").json()["id"]
    other_client = APIClient()
    other_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(partner_workspace)}")
    theirs = other_client.post("/api/v1/leads/", LEAD, format="json").json()["id"]
    listed = [lead["id"] for lead in api_client.get("/api/v1/leads/").json()["results"]]
    assert listed == [mine]
    assert api_client.get(f"/api/v1/leads/{theirs}/").status_code == 404
    assert api_client.get(f"/api/v1/leads/{theirs}/history/").status_code == 404


def test_list_filters_and_cursor_pages(api_client):
    rows = [{"phone": f"+1 312 200 {n:04d}"} for n in range(5)]
    api_client.post("/api/v1/leads/bulk/", rows, format="json")
    page = api_client.get("/api/v1/leads/?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    second = api_client.get(page["next"]).json()
    assert {r["id"] for r in second["results"]}.isdisjoint({r["id"] for r in page["results"]})
    by_phone = api_client.get("/api/v1/leads/?phone=(312) 200-0003").json()["results"]
    assert [r["phone"] for r in by_phone] == ["+13122000003"]
    assert api_client.get("/api/v1/leads/?status=routed").json()["results"] == []
    assert api_client.get("/api/v1/leads/?status=bogus").status_code == 400


def test_patch_updates_fields_and_records_event(api_client):
    lead_id = api_client.post("/api/v1/leads/", LEAD, format="json").json()["id"]
    response = api_client.patch(
        f"/api/v1/leads/{lead_id}/", {"company": "Acme", "phone": "312 200 0099"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["company"] == "Acme"
    assert response.json()["phone"] == "+13122000099"
    bad = api_client.patch(f"/api/v1/leads/{lead_id}/", {"email": "nope"}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"]["email"]
    history = api_client.get(f"/api/v1/leads/{lead_id}/history/").json()
    assert [e["kind"] for e in history] == ["updated", "created"]


def test_idempotency_key_replays_and_conflicts(api_client):
    headers = {"HTTP_IDEMPOTENCY_KEY": "req-1"}
    first = api_client.post("/api/v1/leads/bulk/", [LEAD], format="json", **headers)
    replay = api_client.post("/api/v1/leads/bulk/", [LEAD], format="json", **headers)
    assert replay.status_code == first.status_code == 200
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert LeadEvent.objects.filter(kind="duplicate_received").count() == 0
    other = api_client.post(
        "/api/v1/leads/bulk/", [{"email": "z@example.com"}], format="json", **headers
    )
    assert other.status_code == 409
    assert Lead.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_idempotency_key_write_once(workspace):
    raw = make_api_key(workspace)
    n = 6
    workspace.api_max_concurrent = 0  # all 6 at once (the concurrency limit is not tested here)
    workspace.save(update_fields=["api_max_concurrent"])
    barrier = threading.Barrier(n)
    bodies: list = []

    def worker() -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
            barrier.wait(timeout=10)
            response = client.post(
                "/api/v1/leads/", LEAD, format="json", HTTP_IDEMPOTENCY_KEY="same"
            )
            bodies.append((response.status_code, json.dumps(response.json(), sort_keys=True)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(bodies) == n
    assert len(set(bodies)) == 1
    assert bodies[0][0] == 201
    assert Lead.objects.count() == 1
    assert LeadEvent.objects.filter(kind="duplicate_received").count() == 0


def test_staff_session_user_needs_workspace_for_posting(admin_client, workspace):
    response = admin_client.post("/api/v1/leads/", LEAD, content_type="application/json")
    assert response.status_code == 400
    assert "workspace" in response.json()["errors"]
    ok = admin_client.post("/api/v1/leads/?workspace=acme", LEAD, content_type="application/json")
    assert ok.status_code == 201


def test_openapi_schema_is_served(admin_client):
    response = admin_client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/leads/bulk/" in response.content
    assert b"ApiKey" in response.content  # the Api-Key header scheme is documented


def test_a_revoked_key_stops_working_at_once_even_after_it_was_checked(api_client, api_key):
    from leads.models import ApiKey
    from leads.services import api_key_revoke

    assert api_client.get("/api/v1/leads/").status_code == 200  # checked and remembered
    api_key_revoke(api_key=ApiKey.objects.get(prefix=api_key.split("_")[1]))
    assert api_client.get("/api/v1/leads/").status_code in (401, 403)


def test_a_suppressed_person_posted_again_answers_suppressed_not_duplicate(api_client, workspace):
    first = api_client.post("/api/v1/leads/", LEAD, format="json").json()
    suppression_add(kind="phone", value=LEAD["phone"], workspace_id=workspace.pk)
    again = api_client.post("/api/v1/leads/", LEAD, format="json")
    assert again.status_code == 200
    assert again.json()["status"] == "suppressed"
    assert again.json()["duplicate_of"] == first["id"]
    bulk = api_client.post("/api/v1/leads/bulk/", [LEAD], format="json").json()
    assert [(r["status"], r["duplicate_of"]) for r in bulk] == [("suppressed", first["id"])]
