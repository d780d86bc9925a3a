"""Manager keys: only a key marked as a manager's (or a staff key) configures, always its own
workspace; only people who see every workspace may mark one."""

from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from leads.models import ApiKey, Suppression, Workspace
from tests.conftest import make_api_key, make_member

pytestmark = pytest.mark.django_db


def test_create_api_key_makes_a_manager_key(workspace):
    out = StringIO()
    call_command("create_api_key", "acme", "--manager", stdout=out)
    key = ApiKey.objects.get()
    assert key.is_manager and not key.is_staff
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {out.getvalue().strip()}")
    assert client.get("/api/v1/suppressions/").status_code == 200


def test_an_integrator_cannot_mark_a_manager_key(client, roles, workspace):
    client.force_login(make_member("ivy", workspace, "integrator"))
    response = client.post(
        "/admin/leads/apikey/add/",
        {"workspace": workspace.pk, "name": "crm", "is_manager": "on"},
        follow=True,
    )
    assert response.status_code == 200
    assert ApiKey.objects.get().is_manager is False


def test_an_admin_marks_a_manager_key(admin_client, workspace):
    admin_client.post(
        "/admin/leads/apikey/add/", {"workspace": workspace.pk, "name": "crm", "is_manager": "on"}
    )
    assert ApiKey.objects.get().is_manager is True


def test_a_staff_key_configures_its_own_workspace_only(workspace):
    other = Workspace.objects.create(name="Other", slug="other")
    theirs = Suppression.objects.create(workspace=other, kind="phone", value="+12135550100")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(workspace, is_staff=True)}")
    assert client.get("/api/v1/suppressions/").json()["results"] == []
    assert client.delete(f"/api/v1/suppressions/{theirs.pk}/").status_code == 404
