"""Every registered ModelAdmin: changelist, add form and search answer without error."""

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.leads.factories import LeadFactory

ADMINS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.fixture
def some_rows(workspace):
    LeadFactory.create_batch(3, workspace=workspace)


@pytest.mark.django_db
@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=[m._meta.label for m, _ in ADMINS])
def test_changelist_add_and_search(admin_client, rf, admin_user, some_rows, model, model_admin):
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    changelist = reverse(f"{prefix}_changelist")
    assert admin_client.get(changelist).status_code == 200
    if model_admin.search_fields:
        assert admin_client.get(changelist, {"q": "x"}).status_code == 200
    request = rf.get(changelist)
    request.user = admin_user
    add = admin_client.get(reverse(f"{prefix}_add"))
    expected = 200 if model_admin.has_add_permission(request) else 403
    assert add.status_code == expected
