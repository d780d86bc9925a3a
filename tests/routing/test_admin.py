import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from leads.models import Lead
from routing import services
from routing.models import RetryItem, RoutingRule
from tests.routing.factories import make_leads, make_rule

pytestmark = pytest.mark.django_db


def rule_form(workspace, **overrides):
    data = {
        "name": "Solar CA",
        "priority": "10",
        "is_active": "on",
        "sources": "",
        "distribution": "single",
        "conditions-TOTAL_FORMS": "1",
        "conditions-INITIAL_FORMS": "0",
        "conditions-0-group_name": "Group 1",
        "conditions-0-field_0": "state",
        "conditions-0-field_1": "",
        "conditions-0-operator": "eq",
        "conditions-0-value": "CA",
        "destinations-TOTAL_FORMS": "1",
        "destinations-INITIAL_FORMS": "0",
        "destinations-0-workspace": str(workspace.pk),
        "destinations-0-is_active": "on",
        "destinations-0-weight": "1",
        "destinations-0-timezone": "UTC",
        "destinations-0-schedule_days": list("0123456"),
    }
    data.update(overrides)
    return data


def test_manager_builds_a_rule_in_admin_and_it_is_logged(admin_client, workspace):
    response = admin_client.post("/admin/routing/routingrule/add/", rule_form(workspace))
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    rule = RoutingRule.objects.get()
    assert rule.conditions.get().value == "CA"
    assert LogEntry.objects.filter(object_id=str(rule.pk)).exists()
    [lead_id] = make_leads(workspace, 1, state="CA")
    services.route_pending(worker_id="t")
    assert Lead.objects.get(pk=lead_id).routing_rule_id == rule.pk


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"conditions-0-operator": "regex", "conditions-0-value": "([a"}, "Not a valid regular"),
        ({"conditions-0-operator": "regex", "conditions-0-value": "(?!x)y"}, "RE2 syntax"),
        ({"conditions-0-field_0": "shoe_size"}, "Unknown field"),
        ({"destinations-0-timezone": "Mars/Base"}, "Unknown time zone"),
    ],
)
def test_inline_validation_errors_are_form_errors(admin_client, workspace, override, message):
    response = admin_client.post(
        "/admin/routing/routingrule/add/", rule_form(workspace, **override)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not RoutingRule.objects.exists()


def test_changelist_shows_hits_today(admin_client, workspace, django_assert_max_num_queries):
    rule = make_rule("all", destinations=[{"workspace": workspace}])
    for n in range(3):
        make_rule(f"other {n}", is_active=False, destinations=[{"workspace": workspace}])
    make_leads(workspace, 4)
    services.route_pending(worker_id="t")
    with django_assert_max_num_queries(10):
        response = admin_client.get("/admin/routing/routingrule/")
    row = next(r for r in response.context["cl"].result_list if r.pk == rule.pk)
    assert row._hits == 4


def test_duplicate_activate_deactivate_actions(admin_client, workspace):
    rule = make_rule(
        "r",
        conditions=[{"field": "state", "operator": "eq", "value": "CA"}],
        destinations=[{"workspace": workspace}],
    )
    url = "/admin/routing/routingrule/"
    admin_client.post(url, {"action": "duplicate", "_selected_action": [rule.pk]})
    copy = RoutingRule.objects.exclude(pk=rule.pk).get()
    assert copy.name == "r (copy)" and not copy.is_active
    assert copy.conditions.count() == 1 and copy.destinations.count() == 1
    admin_client.post(url, {"action": "activate", "_selected_action": [copy.pk]})
    copy.refresh_from_db()
    assert copy.is_active
    admin_client.post(url, {"action": "deactivate", "_selected_action": [rule.pk, copy.pk]})
    assert not RoutingRule.objects.filter(is_active=True).exists()


def test_rule_test_page_shows_matches_and_changes_nothing(admin_client, workspace):
    rule = make_rule(
        "ca",
        is_active=False,
        conditions=[{"field": "state", "operator": "eq", "value": "CA"}],
        destinations=[{"workspace": workspace}],
    )
    ca = make_leads(workspace, 2, state="CA")
    make_leads(workspace, 3, state="NY")
    page = admin_client.get(reverse("admin:routing_routingrule_change", args=[rule.pk]))
    assert b"Test this rule" in page.content
    response = admin_client.get(f"/admin/routing/routingrule/{rule.pk}/test/", {"last": 10})
    assert response.status_code == 200
    assert {row["lead"]["id"] for row in response.context["result"].matched} == set(ca)
    assert response.context["result"].tried == 5
    assert set(Lead.objects.values_list("status", flat=True)) == {"pending"}
    bad = admin_client.get(f"/admin/routing/routingrule/{rule.pk}/test/", {"last": "x"})
    assert bad.status_code == 200 and b"Enter a whole number" in bad.content


def test_retry_now_action(admin_client, workspace):
    [lead_id] = make_leads(workspace, 1)
    Lead.objects.filter(pk=lead_id).update(status="failed")
    RetryItem.objects.create(
        lead_id=lead_id,
        attempts=5,
        is_dead=True,
        next_retry_at="2026-01-01T00:00Z",
        last_error="boom",
    )
    listing = admin_client.get("/admin/routing/retryitem/?state=failed")
    assert b"boom" in listing.content
    item = RetryItem.objects.get()
    admin_client.post(
        "/admin/routing/retryitem/", {"action": "retry_now", "_selected_action": [item.pk]}
    )
    assert Lead.objects.get(pk=lead_id).status == "pending"
    assert RetryItem.objects.get().is_dead is False


def test_routing_log_and_retry_queue_search_by_lead_id(admin_client, workspace):
    make_rule("all", destinations=[{"workspace": workspace}])
    first, second = make_leads(workspace, 2)
    services.route_pending(worker_id="t")
    found = admin_client.get("/admin/routing/routinglog/", {"q": str(second)})
    assert [row.lead_id for row in found.context["cl"].result_list] == [second]
    assert f'href="/leads/{second}/"' in found.content.decode()
    RetryItem.objects.create(lead_id=first, next_retry_at="2026-01-01T00:00Z")
    retry = admin_client.get("/admin/routing/retryitem/", {"q": str(first)})
    assert [row.lead_id for row in retry.context["cl"].result_list] == [first]
    assert (
        list(admin_client.get("/admin/routing/retryitem/", {"q": "x"}).context["cl"].result_list)
        == []
    )
