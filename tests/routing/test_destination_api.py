"""Routing destinations in the configuration API: a manager key adds, changes and removes
the destinations of its workspace's rules (caps, schedule, list, sequence); another
workspace's rules and destinations are invisible; the model's rules answer 400 per field;
every change is seen by the routing workers at once."""

import pytest

from dialer.models import ViciList, ViciServer
from routing.models import RuleDestination, RulesVersion
from tests.broadcast.fixtures import make_sequence
from tests.routing.factories import make_rule

pytestmark = pytest.mark.django_db


def own_rule(workspace, name="mine", **destination):
    rule = make_rule(
        name, destinations=[{"workspace": workspace, **destination}] if destination else []
    )
    rule.workspaces.set([workspace])
    return rule


def version() -> int | None:
    row = RulesVersion.objects.filter(pk=1).first()
    return row.version if row else None


def test_a_plain_key_cannot_touch_destinations(api_client, workspace):
    assert api_client.get("/api/v1/routing/destinations/").status_code == 403
    rule = own_rule(workspace)
    body = {"rule": rule.pk}
    assert api_client.post("/api/v1/routing/destinations/", body).status_code == 403


def test_create_list_update_delete(manager, workspace):
    rule = own_rule(workspace)
    server = ViciServer.objects.create(name="s", api_url="http://127.0.0.1:9/", api_user="u")
    vici_list = ViciList.objects.create(server=server, workspace=workspace, list_id=1, name="l")
    sequence = make_sequence(workspace)
    before = version()
    created = manager.post(
        "/api/v1/routing/destinations/",
        {
            "rule": rule.pk,
            "vici_list": vici_list.pk,
            "sequence": sequence.pk,
            "cap_per_day": 100,
            "schedule_days": "01234",
            "schedule_start": "09:00",
            "schedule_end": "18:00",
            "timezone": "America/Los_Angeles",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["workspace"] == "acme" and body["weight"] == 1 and body["is_active"]
    destination = RuleDestination.objects.get(pk=body["id"])
    assert (destination.rule, destination.vici_list, destination.cap_per_day) == (
        rule,
        vici_list,
        100,
    )
    assert version() != before  # workers recompile at once
    listed = manager.get("/api/v1/routing/destinations/").json()["results"]
    assert [row["id"] for row in listed] == [destination.pk]

    path = f"/api/v1/routing/destinations/{destination.pk}/"
    before = version()
    patched = manager.patch(path, {"cap_per_day": None, "cap_per_hour": 5}, format="json")
    assert patched.status_code == 200, patched.json()
    destination.refresh_from_db()
    assert (destination.cap_per_day, destination.cap_per_hour) == (None, 5)
    assert destination.schedule_days == "01234"  # not given: kept
    assert version() != before
    assert manager.delete(path).status_code == 204
    assert not RuleDestination.objects.exists()


def test_the_model_rules_answer_400_per_field(manager, workspace):
    rule = own_rule(workspace)
    bad = manager.post(
        "/api/v1/routing/destinations/",
        {"rule": rule.pk, "schedule_days": "789", "timezone": "Mars/Olympus"},
        format="json",
    )
    assert bad.status_code == 400
    assert "timezone" in bad.json()["errors"]
    days = manager.post(
        "/api/v1/routing/destinations/", {"rule": rule.pk, "schedule_days": "789"}, format="json"
    )
    assert days.status_code == 400 and "schedule_days" in days.json()["errors"]
    half = manager.post(
        "/api/v1/routing/destinations/",
        {"rule": rule.pk, "schedule_start": "09:00"},
        format="json",
    )
    assert half.status_code == 400 and "schedule_end" in half.json()["errors"]
    weight = manager.post(
        "/api/v1/routing/destinations/", {"rule": rule.pk, "weight": 0}, format="json"
    )
    assert weight.status_code == 400 and "weight" in weight.json()["errors"]
    no_rule = manager.post("/api/v1/routing/destinations/", {}, format="json")
    assert no_rule.status_code == 400 and "rule" in no_rule.json()["errors"]
    assert not RuleDestination.objects.exists()


def test_another_workspace_rules_and_destinations_are_invisible(manager, workspace, other):
    theirs = own_rule(other, "theirs", cap_per_day=7)
    their_destination = theirs.destinations.get()
    shared = make_rule("every workspace", destinations=[{"workspace": workspace}])  # admins'
    mine = own_rule(workspace)
    assert manager.get("/api/v1/routing/destinations/").json()["results"] == []
    for destination in (their_destination, shared.destinations.get()):
        path = f"/api/v1/routing/destinations/{destination.pk}/"
        assert manager.get(path).status_code == 404
        assert manager.patch(path, {"cap_per_day": 1}, format="json").status_code == 404
        assert manager.delete(path).status_code == 404
    their_destination.refresh_from_db()
    assert their_destination.cap_per_day == 7
    for body in (
        {"rule": theirs.pk},  # their rule
        {"rule": mine.pk, "workspace": "other"},  # sending our leads to their workspace
    ):
        response = manager.post("/api/v1/routing/destinations/", body, format="json")
        assert response.status_code == 400, body
    server = ViciServer.objects.create(name="s", api_url="http://127.0.0.1:9/", api_user="u")
    their_list = ViciList.objects.create(server=server, workspace=other, list_id=1, name="l")
    their_sequence = make_sequence(other)
    for body in ({"vici_list": their_list.pk}, {"sequence": their_sequence.pk}):
        response = manager.post(
            "/api/v1/routing/destinations/", {"rule": mine.pk, **body}, format="json"
        )
        assert response.status_code == 400 and set(body) <= set(response.json()["errors"])
    assert RuleDestination.objects.count() == 2


def test_the_list_takes_a_fixed_number_of_queries(
    manager, workspace, django_assert_max_num_queries
):
    for n in range(5):
        own_rule(workspace, f"r{n}", cap_per_day=n + 1)
    manager.get("/api/v1/routing/destinations/")
    with django_assert_max_num_queries(3):
        assert len(manager.get("/api/v1/routing/destinations/").json()["results"]) == 5
