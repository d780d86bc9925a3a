import pytest
from rest_framework.test import APIClient

from leads.models import Lead
from routing import services
from routing.models import RoutingRule
from tests.conftest import make_api_key
from tests.routing.factories import make_leads, make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(workspace):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(workspace, is_staff=True)}")
    return client


RULE = {
    "name": "CA solar",
    "priority": 5,
    "conditions": [{"field": "state", "operator": "eq", "value": "CA"}],
    "destinations": [{"workspace": "acme", "cap_per_day": 10}],
}


def test_non_staff_keys_get_403(api_client):
    assert api_client.get("/api/v1/routing/rules/").status_code == 403
    assert api_client.post("/api/v1/routing/rules/", RULE, format="json").status_code == 403


def test_create_list_and_patch_rules(staff_client):
    created = staff_client.post("/api/v1/routing/rules/", RULE, format="json")
    assert created.status_code == 201, created.json()
    rule_id = created.json()["id"]
    assert created.json()["destinations"][0]["workspace"] == "acme"
    listed = staff_client.get("/api/v1/routing/rules/").json()
    assert [r["id"] for r in listed["results"]] == [rule_id]
    patched = staff_client.patch(
        f"/api/v1/routing/rules/{rule_id}/",
        {"priority": 50, "conditions": [{"field": "state", "operator": "in", "value": "CA,NV"}]},
        format="json",
    )
    assert patched.status_code == 200
    rule = RoutingRule.objects.get()
    assert rule.priority == 50 and rule.conditions.get().operator == "in"
    assert rule.destinations.count() == 1  # not given: kept
    named = {"field": "state", "operator": "eq", "value": "TX", "group": 2, "group_name": "Texas"}
    staff_client.patch(f"/api/v1/routing/rules/{rule_id}/", {"conditions": [named]}, format="json")
    [condition] = staff_client.get(f"/api/v1/routing/rules/{rule_id}/").json()["conditions"]
    assert condition == named  # the OR group's name, as the admin shows it


def test_nested_validation_errors_are_per_field(staff_client):
    bad = {
        **RULE,
        "conditions": [{"field": "state", "operator": "regex", "value": "(["}],
        "destinations": [{"workspace": "nope"}],
    }
    response = staff_client.post("/api/v1/routing/rules/", bad, format="json")
    assert response.status_code == 400
    assert "destinations" in response.json()["errors"]
    bad["destinations"] = RULE["destinations"]
    response = staff_client.post("/api/v1/routing/rules/", bad, format="json")
    assert response.status_code == 400
    assert "value" in response.json()["errors"]["conditions"]["0"]
    assert not RoutingRule.objects.exists()


def test_a_pattern_re2_refuses_is_a_400(staff_client):
    bad = {**RULE, "conditions": [{"field": "state", "operator": "regex", "value": r"(C)\1"}]}
    response = staff_client.post("/api/v1/routing/rules/", bad, format="json")
    assert response.status_code == 400
    assert "RE2" in response.json()["errors"]["conditions"]["0"]["value"][0]
    assert not RoutingRule.objects.exists()


def test_rule_test_endpoint_changes_nothing(staff_client, workspace):
    rule = make_rule(
        "ca",
        conditions=[{"field": "state", "operator": "eq", "value": "CA"}],
        destinations=[{"workspace": workspace}],
    )
    ca = make_leads(workspace, 2, state="CA")
    make_leads(workspace, 1, state="NY")
    body = staff_client.post(
        f"/api/v1/routing/rules/{rule.pk}/test/", {"last": 10}, format="json"
    ).json()
    assert body["tried"] == 3
    assert sorted(m["lead_id"] for m in body["matched"]) == sorted(ca)
    assert {m["destination"] for m in body["matched"]} == {"acme"}  # by slug, as rules name it
    assert not Lead.objects.exclude(status="pending").exists()


def test_reroute_via_both_urls(api_client, workspace):
    make_rule("all", destinations=[{"workspace": workspace}])
    [lead_id] = make_leads(workspace, 1)
    services.route_pending(worker_id="t")
    for url in (f"/api/v1/leads/{lead_id}/reroute/", f"/api/v1/routing/leads/{lead_id}/reroute/"):
        response = api_client.post(url)
        assert response.status_code == 200
        assert response.json()["status"] == "pending"
        services.route_pending(worker_id="t")
        assert Lead.objects.get(pk=lead_id).status == "routed"
    assert api_client.post("/api/v1/leads/999999/reroute/").status_code == 404


@pytest.mark.parametrize("status", ["suppressed", "dnc", "sale", "not_interested"])
def test_reroute_refuses_leads_that_must_not_be_contacted_or_are_closed(
    api_client, workspace, status
):
    make_rule("all", destinations=[{"workspace": workspace}])
    [lead_id] = make_leads(workspace, 1)
    Lead.objects.filter(pk=lead_id).update(status=status)
    response = api_client.post(f"/api/v1/leads/{lead_id}/reroute/")
    assert response.status_code == 409
    assert response.json()["code"] == "not_reroutable"
    assert response.json()["errors"] == {"status": [status]}
    assert Lead.objects.get(pk=lead_id).status == status
    assert services.route_pending(worker_id="t").claimed == 0
