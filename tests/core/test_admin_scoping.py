"""Every admin entry point is scoped to the person's workspaces: changelists, object pages,
form choices, filters, actions and custom pages (tests per role; superusers see all)."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.admin import WorkspaceScopedAdmin
from leads.models import Lead, LeadEvent, Workspace
from routing.models import RoutingRule
from tests.conftest import make_member

pytestmark = pytest.mark.django_db

# (admin URL name, how to get the row from a world)
SCOPED = {
    "leads_lead": lambda w: w.lead,
    "leads_leadevent": lambda w: LeadEvent.objects.filter(lead_id=w.lead.pk).first(),
    "leads_workspace": lambda w: w.workspace,
    "leads_suppression": lambda w: w.suppression,
    "routing_routingrule": lambda w: w.rule,
    "routing_retryitem": lambda w: w.retry,
    "dialer_vicilist": lambda w: w.vici_list,
    "dialer_outboxitem": lambda w: w.outbox,
    "broadcast_device": lambda w: w.device,
    "broadcast_sequence": lambda w: w.sequence,
    "broadcast_enrollment": lambda w: w.enrollment,
    "broadcast_message": lambda w: w.message,
    "calllogs_calllog": lambda w: w.call,
}


@pytest.fixture
def manager_client(client, worlds):
    client.force_login(make_member("mia", worlds[0].workspace, "manager"))
    return client


@pytest.mark.parametrize("name", sorted(SCOPED))
def test_manager_sees_only_their_workspace_rows(manager_client, worlds, name):
    mine, theirs = (SCOPED[name](w) for w in worlds)
    response = manager_client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200
    shown = {row.pk for row in response.context["cl"].result_list}
    assert mine.pk in shown and theirs.pk not in shown


@pytest.mark.parametrize("name", sorted(SCOPED))
def test_another_workspace_row_answers_as_one_that_does_not_exist(manager_client, worlds, name):
    mine, theirs = (SCOPED[name](w) for w in worlds)
    assert manager_client.get(reverse(f"admin:{name}_change", args=[mine.pk])).status_code == 200
    other = manager_client.get(reverse(f"admin:{name}_change", args=[theirs.pk]))
    missing = manager_client.get(reverse(f"admin:{name}_change", args=[10**9]))
    assert other.status_code == missing.status_code == 302
    assert other["Location"] == missing["Location"] == reverse("admin:index")


def test_superuser_sees_every_workspace(admin_client, worlds):
    response = admin_client.get(reverse("admin:routing_routingrule_changelist"))
    assert {r.pk for r in response.context["cl"].result_list} == {w.rule.pk for w in worlds}


def test_manager_cannot_change_another_workspace_rule_by_post_or_action(manager_client, worlds):
    mine, theirs = worlds
    url = reverse("admin:routing_routingrule_changelist")
    manager_client.post(
        url, {"action": "deactivate", "_selected_action": [mine.rule.pk, theirs.rule.pk]}
    )
    assert not RoutingRule.objects.get(pk=mine.rule.pk).is_active
    assert RoutingRule.objects.get(pk=theirs.rule.pk).is_active
    change = reverse("admin:routing_routingrule_change", args=[theirs.rule.pk])
    manager_client.post(change, {"name": "hijacked", "priority": 1})
    assert RoutingRule.objects.get(pk=theirs.rule.pk).name == "theirs rule"


def test_device_actions_touch_only_the_managers_devices(manager_client, worlds):
    mine, theirs = worlds
    manager_client.post(
        reverse("admin:broadcast_device_changelist"),
        {"action": "pause", "_selected_action": [mine.device.pk, theirs.device.pk]},
    )
    mine.device.refresh_from_db()
    theirs.device.refresh_from_db()
    assert (mine.device.status, theirs.device.status) == ("paused", "active")


def test_form_choices_and_filters_list_only_the_managers_workspaces(manager_client, worlds):
    page = manager_client.get(reverse("admin:routing_routingrule_add")).content.decode()
    assert "mine team" in page and "mine list" in page and "mine sequence" in page
    assert "theirs team" not in page and "theirs list" not in page
    assert "theirs sequence" not in page
    for name in ("broadcast_device", "broadcast_sequence", "leads_lead", "broadcast_enrollment"):
        page = manager_client.get(reverse(f"admin:{name}_changelist")).content.decode()
        assert "theirs team" not in page and "theirs sequence" not in page, name


def test_manager_rule_needs_their_own_source_workspaces(manager_client, worlds):
    mine, theirs = worlds
    data = {
        "name": "new",
        "priority": 5,
        "distribution": "single",
        "is_active": "on",
        "workspaces": [theirs.workspace.pk],
        "conditions-TOTAL_FORMS": 0,
        "conditions-INITIAL_FORMS": 0,
        "destinations-TOTAL_FORMS": 0,
        "destinations-INITIAL_FORMS": 0,
    }
    url = reverse("admin:routing_routingrule_add")
    assert manager_client.post(url, data).status_code == 200  # the form again, with errors
    assert manager_client.post(url, {**data, "workspaces": []}).status_code == 200
    assert not RoutingRule.objects.filter(name="new").exists()
    response = manager_client.post(url, {**data, "workspaces": [mine.workspace.pk]})
    assert response.status_code == 302
    assert list(RoutingRule.objects.get(name="new").workspaces.all()) == [mine.workspace]


def test_custom_pages_are_scoped(manager_client, worlds):
    mine, theirs = worlds
    test_url = "admin:routing_routingrule_test"
    assert manager_client.get(reverse(test_url, args=[mine.rule.pk])).status_code == 200
    assert manager_client.get(reverse(test_url, args=[theirs.rule.pk])).status_code == 404
    before = Lead.objects.count()
    response = manager_client.post(
        "/admin/leads/lead/import-csv/",
        {
            "workspace": theirs.workspace.pk,
            "file": SimpleUploadedFile("a.csv", b"phone\n2135550199\n"),
        },
    )
    assert response.status_code == 200 and "workspace" in response.context["form"].errors
    assert Lead.objects.count() == before


def test_models_of_no_workspace_are_for_admins_only(manager_client, admin_client, worlds):
    for name in ("dialer_viciserver", "calllogs_dispositionmap", "calllogs_serverhook"):
        assert manager_client.get(reverse(f"admin:{name}_changelist")).status_code == 403
        assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200


def test_manager_adds_suppressions_to_their_workspace_only(manager_client, worlds):
    url = reverse("admin:leads_suppression_add")
    response = manager_client.post(url, {"kind": "phone", "value": "2135550111"})
    assert response.status_code == 200 and "workspace" in response.context["adminform"].form.errors


def test_agent_never_sees_the_admin(client, worlds):
    agent = make_member("ann", worlds[0].workspace, "agent")
    assert not agent.is_staff
    client.force_login(agent)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.get(reverse("admin:leads_lead_changelist")).status_code == 302


def test_integrator_sees_their_keys_and_cannot_make_staff_keys(client, worlds):
    mine, theirs = worlds
    client.force_login(make_member("ivy", mine.workspace, "integrator"))
    response = client.get(reverse("admin:leads_apikey_changelist"))
    assert {k.pk for k in response.context["cl"].result_list} == {mine.api_key.pk}
    add = client.get(reverse("admin:leads_apikey_add"))
    assert "is_staff" not in add.context["adminform"].form.fields
    assert client.get(reverse("admin:routing_routingrule_changelist")).status_code == 403


def test_staff_keys_belong_to_internal_workspaces_only(admin_client, partner_workspace):
    response = admin_client.post(
        reverse("admin:leads_apikey_add"),
        {"workspace": partner_workspace.pk, "name": "x", "is_staff": "on"},
    )
    assert response.status_code == 200
    assert "is_staff" in response.context["adminform"].form.errors


def test_every_admin_of_the_apps_is_workspace_scoped():
    ours = ("leads", "routing", "dialer", "broadcast", "calllogs")
    unscoped = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in ours and not isinstance(model_admin, WorkspaceScopedAdmin)
    ]
    assert unscoped == []


def test_a_membership_of_an_inactive_workspace_shows_nothing(client, worlds):
    manager = make_member("max", worlds[0].workspace, "manager")
    Workspace.objects.filter(pk=worlds[0].workspace.pk).update(is_active=False)
    client.force_login(get_user_model().objects.get(pk=manager.pk))
    response = client.get(reverse("admin:leads_lead_changelist"))
    assert list(response.context["cl"].result_list) == []


def test_a_scoped_changelist_counts_at_most_up_to_the_cap(manager_client, worlds, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.paginators import CappedCountPaginator

    url = reverse("admin:leads_lead_changelist")
    with CaptureQueriesContext(connection) as small:
        response = manager_client.get(url)
    assert response.status_code == 200 and response.context["cl"].result_count == 1
    counts = [q["sql"] for q in small.captured_queries if "COUNT(" in q["sql"]]
    assert counts and all(f"LIMIT {CappedCountPaginator.cap + 1}" in sql for sql in counts)
