"""Deeply nested JSON is a 400 (or a form error) wherever JSON comes in, never a 500."""

import json

import pytest
from django.urls import reverse

from broadcast.client import WahaClient
from core.json_safe import JsonTooDeep, depth_exceeds, loads
from tests.leads.factories import LeadFactory

DEEP = "[" * 100_000 + "]" * 100_000  # past Python's recursion limit


def nested(levels: int) -> object:
    value: object = "x"
    for _ in range(levels):
        value = {"k": value}
    return value


def test_loads_refuses_past_the_limit_and_past_the_recursion_limit():
    with pytest.raises(JsonTooDeep):
        loads(DEEP)
    with pytest.raises(JsonTooDeep):
        loads(json.dumps(nested(33)), limit=32)
    assert loads(json.dumps(nested(32)), limit=32) == nested(32)
    assert isinstance(JsonTooDeep(3), ValueError)


def test_depth_counts_arrays_and_objects():
    assert not depth_exceeds({"a": [1, {"b": 2}]}, 3)
    assert depth_exceeds({"a": [1, {"b": [2]}]}, 3)
    assert not depth_exceeds("text", 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [DEEP, json.dumps({"phone": "+12134567890", "custom": nested(40)})],
    ids=["past-recursion", "past-limit"],
)
def test_the_api_answers_400(api_client, body):
    response = api_client.post("/api/v1/leads/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "too_deep"
    bulk = api_client.post("/api/v1/leads/bulk/", data=body, content_type="application/json")
    assert bulk.status_code == 400


@pytest.mark.django_db
def test_the_gateway_webhook_answers_400(client, device):
    body = DEEP.encode()
    response = client.post(
        f"/webhooks/gateway/{device.pk}/",
        data=body,
        content_type="application/json",
        headers={"X-Webhook-Hmac": WahaClient.sign(body, device.webhook_secret)},
    )
    assert response.status_code == 400
    assert "nested deeper" in response.json()["message"]


@pytest.mark.django_db
def test_an_admin_json_field_answers_a_form_error(admin_client, workspace):
    lead = LeadFactory(workspace=workspace)
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k in form.fields}
    for custom in (DEEP, json.dumps(nested(40))):
        response = admin_client.post(url, {**data, "custom": custom})
        assert response.status_code == 200
        assert "custom" in response.context["adminform"].form.errors
    lead.refresh_from_db()
    assert lead.custom == {}
