"""Suppressions in the configuration API: a manager key adds (idempotently), removes and
checks its workspace's phones and emails; another workspace's list is invisible; the admin
form's rules answer 400 per field."""

import pytest

from leads.models import Lead, Suppression
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_a_plain_key_cannot_touch_the_list(api_client):
    assert api_client.get("/api/v1/suppressions/").status_code == 403
    body = {"kind": "phone", "value": "+12135550100"}
    assert api_client.post("/api/v1/suppressions/", body).status_code == 403
    assert api_client.get("/api/v1/suppressions/check/", {"phone": "x"}).status_code == 403


def test_add_list_check_and_remove(manager, workspace):
    lead = LeadFactory(workspace=workspace, phone="+12135550100")
    added = manager.post(
        "/api/v1/suppressions/",
        {"kind": "phone", "value": "(213) 555-0100", "reason": "asked"},
        format="json",
    )
    assert added.status_code == 201, added.json()
    body = added.json()
    assert body["value"] == "+12135550100" and body["workspace"] == "acme"
    assert body["source"] == "api"
    lead.refresh_from_db()
    assert lead.status == Lead.Status.SUPPRESSED  # as the admin's add does
    again = manager.post(
        "/api/v1/suppressions/", {"kind": "phone", "value": "+1 213 555 0100"}, format="json"
    )
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert Suppression.objects.count() == 1

    listed = manager.get("/api/v1/suppressions/").json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]
    check = manager.get("/api/v1/suppressions/check/", {"phone": "213-555-0100"}).json()
    assert check["suppressed"] and check["matches"][0]["scope"] == "workspace"
    clean = manager.get("/api/v1/suppressions/check/", {"email": "nobody@example.com"}).json()
    assert clean == {"suppressed": False, "matches": []}

    assert manager.delete(f"/api/v1/suppressions/{body['id']}/").status_code == 204
    assert not Suppression.objects.exists()
    assert not manager.get("/api/v1/suppressions/check/", {"phone": "2135550100"}).json()[
        "suppressed"
    ]


def test_bad_input_is_a_400_per_field(manager):
    bad = manager.post("/api/v1/suppressions/", {"kind": "phone", "value": "12"}, format="json")
    assert bad.status_code == 400 and "value" in bad.json()["errors"]
    kind = manager.post("/api/v1/suppressions/", {"kind": "fax", "value": "1"}, format="json")
    assert kind.status_code == 400 and "kind" in kind.json()["errors"]
    email = manager.post("/api/v1/suppressions/", {"kind": "email", "value": "no"}, format="json")
    assert email.status_code == 400 and "value" in email.json()["errors"]
    nothing = manager.get("/api/v1/suppressions/check/")
    assert nothing.status_code == 400
    assert manager.get("/api/v1/suppressions/check/", {"phone": "abc"}).status_code == 400
    assert not Suppression.objects.exists()
    # a key cannot add a global suppression (no workspace)
    glob = manager.post(
        "/api/v1/suppressions/",
        {"kind": "phone", "value": "+12135550100", "workspace": None},
        format="json",
    )
    assert glob.status_code == 400


def test_another_workspace_list_is_invisible(manager, workspace, other):
    theirs = Suppression.objects.create(workspace=other, kind="phone", value="+12135550111")
    glob = Suppression.objects.create(workspace=None, kind="email", value="x@example.com")
    assert manager.get("/api/v1/suppressions/").json()["results"] == []
    for row in (theirs, glob):
        assert manager.get(f"/api/v1/suppressions/{row.pk}/").status_code == 404
        assert manager.delete(f"/api/v1/suppressions/{row.pk}/").status_code == 404
    assert Suppression.objects.count() == 2
    check = manager.get("/api/v1/suppressions/check/", {"phone": "+12135550111"}).json()
    assert check["suppressed"] is False  # another workspace's list does not stop ours
    check = manager.get("/api/v1/suppressions/check/", {"email": "X@example.com"}).json()
    assert check["suppressed"] and check["matches"] == [
        {"id": None, "kind": "email", "value": "x@example.com", "scope": "global", "reason": ""}
    ]
    foreign = manager.post(
        "/api/v1/suppressions/",
        {"kind": "phone", "value": "+12135550122", "workspace": "other"},
        format="json",
    )
    assert foreign.status_code == 400 and "workspace" in foreign.json()["errors"]


def test_the_list_takes_a_fixed_number_of_queries(
    manager, workspace, django_assert_max_num_queries
):
    for n in range(5):
        Suppression.objects.create(workspace=workspace, kind="phone", value=f"+1213555020{n}")
    manager.get("/api/v1/suppressions/")
    with django_assert_max_num_queries(3):
        assert len(manager.get("/api/v1/suppressions/").json()["results"]) == 5
