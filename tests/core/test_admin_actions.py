"""Issue 13: every custom admin action declares the permission it needs, so a person who may
only view sees none of them (this test reads every registered ModelAdmin's actions, so a new
action anywhere, broadcast's included, is checked too)."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import RequestFactory

pytestmark = pytest.mark.django_db

ADMINS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _custom_actions(model_admin):
    names = [a if isinstance(a, str) else a.__name__ for a in model_admin.actions or []]
    return [
        (name, getattr(model_admin, name, None) or _function(model_admin, name)) for name in names
    ]


def _function(model_admin, name):
    return next(a for a in model_admin.actions if getattr(a, "__name__", None) == name)


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=[m._meta.label for m, _ in ADMINS])
def test_every_custom_action_declares_its_permission(model, model_admin):
    undeclared = [
        name
        for name, func in _custom_actions(model_admin)
        if not getattr(func, "allowed_permissions", ())
    ]
    assert undeclared == []


@pytest.fixture
def viewer(db):
    """A staff person who sees every workspace and may view every model, nothing more."""
    user = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__startswith="view_")
        | Permission.objects.filter(codename="all_workspaces")
    )
    return get_user_model().objects.get(pk=user.pk)


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=[m._meta.label for m, _ in ADMINS])
def test_a_view_only_person_finds_no_action(viewer, model, model_admin):
    request = RequestFactory().get("/admin/")
    request.user = viewer
    assert model_admin.has_view_permission(request)
    assert list(model_admin.get_actions(request)) == []


def test_a_view_only_person_cannot_run_create_api_key(client, viewer, workspace):
    client.force_login(viewer)
    response = client.post(
        "/admin/leads/workspace/",
        {"action": "create_api_key", "_selected_action": [workspace.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert not workspace.api_keys.exists()
