"""Issue 13 in the API: a signed-in person needs the model permission of each method and
sees only their workspaces (another workspace's lead, rule, call or message is a 404, as one
that does not exist); API keys keep their workspace; staff keys manage every rule."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from leads.models import Lead
from routing.models import RoutingRule
from tests.conftest import make_api_key, make_member

pytestmark = pytest.mark.django_db


def session(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=None)
    client.force_login(user)
    return client


@pytest.fixture
def manager(worlds):
    return session(make_member("mia", worlds[0].workspace, "manager"))


def test_manager_lists_and_reads_only_their_leads(manager, worlds):
    mine, theirs = worlds
    listed = manager.get("/api/v1/leads/").json()["results"]
    assert [row["id"] for row in listed] == [mine.lead.pk]
    for path in ("", "history/", "calls/", "messages/"):
        assert manager.get(f"/api/v1/leads/{mine.lead.pk}/{path}").status_code == 200, path
        other = manager.get(f"/api/v1/leads/{theirs.lead.pk}/{path}")
        assert other.status_code == 404, path
    # another workspace named in ?workspace= is "unknown", as one that does not exist
    unknown = manager.get("/api/v1/leads/", {"workspace": theirs.workspace.slug})
    missing = manager.get("/api/v1/leads/", {"workspace": "nope"})
    assert unknown.status_code == missing.status_code == 400
    assert unknown.json()["errors"] == {"workspace": ["Unknown workspace 'theirs'."]}
    assert missing.json()["errors"] == {"workspace": ["Unknown workspace 'nope'."]}


def test_manager_cannot_patch_or_reroute_another_workspace_lead(manager, worlds):
    mine, theirs = worlds
    assert (
        manager.patch(
            f"/api/v1/leads/{theirs.lead.pk}/", {"company": "X"}, format="json"
        ).status_code
        == 404
    )
    assert manager.post(f"/api/v1/leads/{theirs.lead.pk}/reroute/").status_code == 404
    assert Lead.objects.get(pk=theirs.lead.pk).company == ""
    ok = manager.patch(f"/api/v1/leads/{mine.lead.pk}/", {"company": "Y"}, format="json")
    assert ok.status_code == 200 and ok.json()["company"] == "Y"


def test_manager_manages_only_their_rules(manager, worlds):
    mine, theirs = worlds
    rules = manager.get("/api/v1/routing/rules/").json()["results"]
    assert [r["id"] for r in rules] == [mine.rule.pk]
    assert manager.get(f"/api/v1/routing/rules/{theirs.rule.pk}/").status_code == 404
    patch = manager.patch(f"/api/v1/routing/rules/{theirs.rule.pk}/", {"priority": 1}, "json")
    assert patch.status_code == 404
    assert manager.post(f"/api/v1/routing/rules/{theirs.rule.pk}/test/").status_code == 404
    body = {"name": "r", "destinations": [{"workspace": "theirs"}], "workspaces": ["mine"]}
    assert manager.post("/api/v1/routing/rules/", body, format="json").status_code == 400
    body = {"name": "r", "destinations": [{"workspace": "mine"}]}
    created = manager.post("/api/v1/routing/rules/", body, format="json")
    assert created.status_code == 400 and "workspaces" in created.json()["errors"]
    body["workspaces"] = ["mine"]
    body["destinations"][0]["vici_list"] = theirs.vici_list.pk
    assert manager.post("/api/v1/routing/rules/", body, format="json").status_code == 400
    body["destinations"][0]["vici_list"] = mine.vici_list.pk
    assert manager.post("/api/v1/routing/rules/", body, format="json").status_code == 201
    assert RoutingRule.objects.get(pk=theirs.rule.pk).priority == 100


def test_broadcast_lists_are_scoped(manager, worlds):
    mine, theirs = worlds
    sequences = manager.get("/api/v1/broadcast/sequences/").json()
    assert [s["id"] for s in sequences] == [mine.sequence.pk]
    enrollments = manager.get("/api/v1/broadcast/enrollments/").json()
    assert [e["id"] for e in enrollments] == [mine.enrollment.pk]
    stop = manager.post(
        f"/api/v1/broadcast/enrollments/{theirs.enrollment.pk}/stop/", {"reason": "x"}, "json"
    )
    assert stop.status_code == 404


def test_view_only_staff_user_cannot_change_anything(worlds, django_user_model):
    mine, _ = worlds
    user = django_user_model.objects.create_user("vic", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_lead", "view_routingrule", "all_workspaces"])
    )
    client = session(user)
    assert client.get(f"/api/v1/leads/{mine.lead.pk}/").status_code == 200
    assert (
        client.patch(f"/api/v1/leads/{mine.lead.pk}/", {"company": "Z"}, "json").status_code == 403
    )
    assert (
        client.post("/api/v1/leads/?workspace=mine", {"phone": "2135550100"}, "json").status_code
        == 403
    )
    assert (
        client.patch(f"/api/v1/routing/rules/{mine.rule.pk}/", {"priority": 1}, "json").status_code
        == 403
    )
    assert client.post(f"/api/v1/leads/{mine.lead.pk}/reroute/").status_code == 403


def test_agent_reads_their_leads_but_cannot_change_them_through_the_api(worlds):
    mine, theirs = worlds
    agent = session(make_member("ann", mine.workspace, "agent"))
    assert agent.get(f"/api/v1/leads/{mine.lead.pk}/").status_code == 200
    assert agent.get(f"/api/v1/leads/{theirs.lead.pk}/").status_code == 404
    assert (
        agent.patch(f"/api/v1/leads/{mine.lead.pk}/", {"company": "Z"}, "json").status_code == 403
    )
    assert agent.get("/api/v1/routing/rules/").status_code == 403


def test_keys_keep_their_workspace_and_staff_keys_manage_every_rule(worlds):
    mine, theirs = worlds
    key = APIClient()
    key.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(mine.workspace)}")
    assert key.get(f"/api/v1/leads/{theirs.lead.pk}/").status_code == 404
    assert key.get("/api/v1/routing/rules/").status_code == 403
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(mine.workspace, is_staff=True)}")
    rules = staff.get("/api/v1/routing/rules/").json()["results"]
    assert {r["id"] for r in rules} == {mine.rule.pk, theirs.rule.pk}
