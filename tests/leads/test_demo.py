import pytest
from django.core.management import call_command

from leads.models import ApiKey, Membership

pytestmark = pytest.mark.django_db


def test_demo_data_has_a_manager_an_agent_and_staff_keys_only_for_the_internal_team():
    call_command("load_demo_data", leads=6)
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {"manager": "manager", "agent": "agent"}
    assert not Membership.objects.get(role="agent").user.is_staff
    keys = dict(ApiKey.objects.values_list("workspace__kind", "is_staff"))
    assert keys == {"internal": True, "partner": False}
