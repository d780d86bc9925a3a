"""setup_roles keeps one group per role in step with the apps' roles.py; memberships give a
person their role's group, is_staff (not for agents) and their workspaces."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from core.errors import ApplicationError
from core.scope import workspace_ids_for
from leads.models import Membership
from leads.services import api_key_create, membership_remove, membership_set
from tests.conftest import make_member
from tests.leads.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db


def perms(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}


def test_setup_roles_is_idempotent_and_restores_the_declared_permissions():
    call_command("setup_roles")
    manager = Group.objects.get(name="manager")
    manager.permissions.clear()
    call_command("setup_roles")
    call_command("setup_roles")
    assert Group.objects.filter(name__in=["admin", "manager", "agent", "integrator"]).count() == 4
    assert {"routing.change_routingrule", "broadcast.change_device"} <= perms("manager")
    assert "dialer.change_viciserver" not in perms("manager")
    assert perms("agent") == {"leads.view_lead", "leads.work_lead", "leads.view_leadevent"}
    assert "leads.all_workspaces" in perms("admin")
    assert "leads.all_workspaces" not in perms("manager")
    assert perms("integrator") >= {"leads.add_apikey"} and "leads.view_lead" not in perms(
        "integrator"
    )


def test_a_membership_gives_the_role_group_staff_flag_and_workspaces(roles):
    team, other = WorkspaceFactory(), WorkspaceFactory()
    agent = make_member("ann", team, "agent")
    assert not agent.is_staff and list(agent.groups.values_list("name", flat=True)) == ["agent"]
    assert workspace_ids_for(agent) == frozenset([team.pk])
    membership_set(user=agent, workspace=other, role="manager")
    agent.refresh_from_db()
    assert agent.is_staff
    assert set(agent.groups.values_list("name", flat=True)) == {"agent", "manager"}
    assert workspace_ids_for(agent) == frozenset([team.pk, other.pk])
    membership_remove(user=agent, workspace=other)
    agent.refresh_from_db()
    assert not agent.is_staff and Membership.objects.filter(user=agent).count() == 1


def test_the_admin_role_sees_every_workspace(roles):
    boss = make_member("bo", WorkspaceFactory(), "admin")
    assert workspace_ids_for(boss) is None


def test_unknown_role_and_missing_groups_are_clear_errors(db, django_user_model):
    user = django_user_model.objects.create_user("x")
    with pytest.raises(ApplicationError, match="setup_roles"):
        membership_set(user=user, workspace=WorkspaceFactory(), role="agent")
    with pytest.raises(ApplicationError, match="Unknown role"):
        membership_set(user=user, workspace=WorkspaceFactory(), role="boss")


def test_staff_keys_only_for_internal_workspaces(partner_workspace, workspace):
    with pytest.raises(ApplicationError) as caught:
        api_key_create(workspace=partner_workspace, is_staff=True)
    assert "is_staff" in caught.value.errors
    key, _ = api_key_create(workspace=workspace, is_staff=True)
    assert key.is_staff


def test_create_member_command(roles, workspace, capsys):
    call_command("create_member", "carl", "acme", "agent", "--password", "pw-Secret-1")
    member = Membership.objects.get(user__username="carl")
    assert member.role == "agent" and member.workspace == workspace
    assert member.user.check_password("pw-Secret-1")


def test_create_api_key_command_refuses_a_partner_staff_key(partner_workspace):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="internal workspaces only"):
        call_command("create_api_key", "partner", "--staff")


def test_memberships_added_and_removed_in_the_admin_keep_groups_and_staff_in_step(
    admin_client, roles, workspace, django_user_model
):
    person = django_user_model.objects.create_user("pat")
    response = admin_client.post(
        "/admin/leads/membership/add/",
        {"user": person.pk, "workspace": workspace.pk, "role": "manager"},
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.is_staff and list(person.groups.values_list("name", flat=True)) == ["manager"]
    membership = Membership.objects.get(user=person)
    admin_client.post(f"/admin/leads/membership/{membership.pk}/delete/", {"post": "yes"})
    person.refresh_from_db()
    assert not person.is_staff and not person.groups.exists()
