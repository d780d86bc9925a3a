"""The rule editor a manager can read: the plain-words summary, the field picker with recent
custom keys, named OR groups, day checkboxes and the time-zone select (stored values as
before)."""

from datetime import time

import pytest
from django.core.cache import cache

from leads.models import Workspace
from leads.selectors import custom_keys_recent
from routing.models import RoutingRule, RuleCondition, RuleDestination
from routing.summary import days_text, rule_summary
from tests.conftest import make_member
from tests.routing.factories import make_leads, make_rule
from tests.routing.test_admin import rule_form

pytestmark = pytest.mark.django_db
ADD = "/admin/routing/routingrule/add/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def west_rule(workspace, partner, **kwargs):
    hours = {
        "cap_per_day": 100,
        "schedule_days": "01234",
        "schedule_start": time(9),
        "schedule_end": time(18),
        "timezone": "America/Los_Angeles",
    }
    return make_rule(
        "west",
        distribution=kwargs.pop("distribution", "weighted"),
        conditions=[
            {"field": "state", "operator": "in", "value": "CA,TX"},
            {"field": "source", "operator": "startswith", "value": "fb"},
        ],
        destinations=[
            {"workspace": workspace, "weight": 7, **hours},
            {"workspace": partner, "weight": 3, **hours, **kwargs},
        ],
    )


def test_summary_reads_like_the_issue_example(partner_workspace):
    acme = Workspace.objects.create(name="Acme", slug="acme-2")
    partner_workspace.name = "Partner"
    partner_workspace.save()
    assert rule_summary(west_rule(acme, partner_workspace)) == (
        "If state is CA or TX and source starts with fb: 70% Acme, 30% Partner, "
        "at most 100 a day, Mon-Fri 09:00-18:00 America/Los_Angeles"
    )


def test_summary_of_or_groups_scope_distributions_and_different_terms(workspace, partner_workspace):
    rule = west_rule(workspace, partner_workspace, distribution="single", cap_per_day=None)
    RuleCondition.objects.create(
        rule=rule, group=1, group_name="Big", field="custom.size", operator="gt", value="500"
    )
    RuleCondition.objects.filter(rule=rule, group=0).update(group_name="West")
    rule.workspaces.set([workspace])
    rule.sources = "fb_ads, web"
    rule.save()
    assert rule_summary(RoutingRule.objects.get(pk=rule.pk)) == (
        "Leads of Acme Internal from source fb_ads or web, if state is CA or TX and source "
        "starts with fb [West], or custom size is greater than 500 [Big]: "
        "Acme Internal (at most 100 a day, Mon-Fri 09:00-18:00 America/Los_Angeles), "
        "else Partner Co (Mon-Fri 09:00-18:00 America/Los_Angeles)"
    )
    rule.distribution = "round_robin"
    rule.save()
    RuleCondition.objects.filter(rule=rule).delete()
    RuleDestination.objects.filter(rule=rule).update(
        cap_per_day=None, schedule_days="0123456", schedule_start=None, schedule_end=None
    )
    assert rule_summary(RoutingRule.objects.get(pk=rule.pk)) == (
        "Leads of Acme Internal from source fb_ads or web: Acme Internal and Partner Co in turn"
    )
    RuleDestination.objects.filter(rule=rule).update(is_active=False)
    assert rule_summary(RoutingRule.objects.get(pk=rule.pk)).endswith(
        ": no active destination (the rule takes no lead)"
    )


@pytest.mark.parametrize(
    ("days", "text"),
    [
        ("0123456", ""),
        ("01234", "Mon-Fri"),
        ("56", "Sat, Sun"),
        ("0246", "Mon, Wed, Fri, Sun"),
        ("01245", "Mon-Wed, Fri, Sat"),
        ("", "never open"),
    ],
)
def test_days_in_words(days, text):
    assert days_text(days) == text


def test_changelist_shows_every_rule_in_words_in_a_fixed_number_of_queries(
    admin_client, workspace, partner_workspace, django_assert_max_num_queries
):
    for _ in range(12):
        west_rule(workspace, partner_workspace).workspaces.set([workspace])
    with django_assert_max_num_queries(12):
        response = admin_client.get("/admin/routing/routingrule/")
    assert response.content.decode().count("if state is CA or TX and source starts with fb") == 12


def test_custom_keys_of_recent_leads_in_one_cached_query(
    workspace, partner_workspace, django_assert_num_queries
):
    make_leads(workspace, 2, custom={"utm_campaign": "x", "size": 3})
    make_leads(workspace, 1, custom={"budget": "high"})
    make_leads(partner_workspace, 1, custom={"secret_key_of_partner": 1})
    with django_assert_num_queries(1):
        assert custom_keys_recent(workspace_ids={workspace.pk}) == [
            "budget",
            "size",
            "utm_campaign",
        ]
    with django_assert_num_queries(0):
        custom_keys_recent(workspace_ids={workspace.pk})
    assert "secret_key_of_partner" in custom_keys_recent(workspace_ids=None)


def test_the_field_picker_lists_lead_fields_and_recent_custom_keys(admin_client, workspace):
    make_leads(workspace, 1, custom={"utm_campaign": "spring"})
    page = admin_client.get(ADD).content.decode()
    assert '<option value="postal_code">postal code</option>' in page
    assert '<option value="custom.utm_campaign">utm_campaign</option>' in page
    assert 'placeholder="or a new custom key"' in page


def test_a_new_custom_key_is_typed_in_the_picker(admin_client, workspace):
    data = rule_form(workspace, **{"conditions-0-field_0": "", "conditions-0-field_1": "plan"})
    assert admin_client.post(ADD, data).status_code == 302
    assert RuleCondition.objects.get().field == "custom.plan"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"conditions-0-field_0": ""}, "Pick a field, or type a custom key."),
        ({"conditions-0-group_name": " "}, "This field is required."),
        ({"destinations-0-schedule_days": []}, "Tick at least one open day"),
        ({"destinations-0-schedule_days": ["7"]}, "Select a valid choice"),
        ({"destinations-0-timezone": "Mars/Base"}, "Unknown time zone Mars/Base"),
        ({"destinations-0-schedule_start": "25:00"}, "Enter a valid time"),
        ({"conditions-0-operator": "gt", "conditions-0-value": "lots"}, "Must be a number"),
    ],
)
def test_bad_input_is_a_form_error_never_a_500(admin_client, workspace, override, message):
    response = admin_client.post(ADD, rule_form(workspace, **override))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not RoutingRule.objects.exists()


def two_groups(workspace):
    return rule_form(
        workspace,
        **{
            "conditions-TOTAL_FORMS": "3",
            "conditions-0-group_name": "West",
            "conditions-1-group_name": "Big  companies",
            "conditions-1-field_0": "company",
            "conditions-1-operator": "contains",
            "conditions-1-value": "Inc",
            "conditions-2-group_name": "West",
            "conditions-2-field_0": "source",
            "conditions-2-operator": "startswith",
            "conditions-2-value": "fb",
            "destinations-0-schedule_days": ["0", "2", "4"],
            "destinations-0-timezone": "America/Chicago",
        },
    )


def test_named_or_groups_are_stored_as_numbered_groups(admin_client, workspace):
    assert admin_client.post(ADD, two_groups(workspace)).status_code == 302
    rows = {c.value: (c.group, c.group_name) for c in RuleCondition.objects.all()}
    assert rows == {"CA": (0, "West"), "fb": (0, "West"), "Inc": (1, "Big companies")}
    [ca] = make_leads(workspace, 1, state="CA", source="fb_x")
    [inc] = make_leads(workspace, 1, state="NY", company="Foo Inc")
    make_leads(workspace, 1, state="CA", source="web")
    rule = RoutingRule.objects.get()
    result = admin_client.get(f"/admin/routing/routingrule/{rule.pk}/test/", {"last": 10})
    assert {row["lead"]["id"] for row in result.context["result"].matched} == {ca, inc}


def test_stored_values_round_trip_through_the_change_form(admin_client, workspace):
    admin_client.post(ADD, two_groups(workspace))
    rule = RoutingRule.objects.get()
    destination = rule.destinations.get()
    assert (destination.schedule_days, destination.timezone) == ("024", "America/Chicago")
    url = f"/admin/routing/routingrule/{rule.pk}/change/"
    page = admin_client.get(url)
    form = page.context["inline_admin_formsets"][1].formset.forms[0]
    assert form["schedule_days"].value() == ["0", "2", "4"]
    assert 'value="2" class="lb-days" id="id_destinations-0-schedule_days_2" checked' in str(
        form["schedule_days"]
    )
    assert '<option value="America/Chicago" selected>' in str(form["timezone"])
    conditions = page.context["inline_admin_formsets"][0].formset.forms
    assert [f["group_name"].value() for f in conditions[:3]] == ["West", "West", "Big companies"]
    # Posting the form back as shown changes nothing; a third group gets the next number.
    data = two_groups(workspace)
    ids = {c.value: c.pk for c in rule.conditions.all()}
    data.update(
        {
            "conditions-TOTAL_FORMS": "4",
            "conditions-INITIAL_FORMS": "3",
            "conditions-0-id": ids["CA"],
            "conditions-1-id": ids["Inc"],
            "conditions-2-id": ids["fb"],
            "conditions-3-group_name": "Night",
            "conditions-3-field_0": "created_at",
            "conditions-3-operator": "local_time",
            "conditions-3-value": "20:00-23:00",
            "destinations-INITIAL_FORMS": "1",
            "destinations-0-id": destination.pk,
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    rows = {c.value: (c.group, c.group_name) for c in RuleCondition.objects.all()}
    assert rows["CA"] == (0, "West") and rows["Inc"] == (1, "Big companies")
    assert rows["20:00-23:00"] == (2, "Night")
    destination.refresh_from_db()
    assert (destination.schedule_days, destination.timezone) == ("024", "America/Chicago")


def test_a_rule_made_by_the_api_shows_numbered_groups(admin_client, workspace):
    rule = make_rule(
        "api",
        conditions=[
            {"field": "state", "operator": "eq", "value": "CA", "group": 0},
            {"field": "state", "operator": "eq", "value": "TX", "group": 3},
        ],
        destinations=[{"workspace": workspace}],
    )
    page = admin_client.get(f"/admin/routing/routingrule/{rule.pk}/change/")
    forms = page.context["inline_admin_formsets"][0].formset.forms
    assert [f["group_name"].value() for f in forms] == ["Group 1", "Group 4", "Group 1"]
    assert "If state is CA, or state is TX:" in page.content.decode()


def test_a_manager_picks_among_the_custom_keys_of_their_own_leads_only(client, worlds):
    mine, theirs = worlds
    make_leads(mine.workspace, 1, custom={"mine_key": 1})
    make_leads(theirs.workspace, 1, custom={"theirs_key": 1})
    client.force_login(make_member("mia", mine.workspace, "manager"))
    page = client.get(ADD).content.decode()
    assert 'value="custom.mine_key"' in page and "theirs_key" not in page


def test_the_form_reads_the_rule_as_posted_without_saving_it(admin_client, workspace):
    data = two_groups(workspace)
    data["conditions-TOTAL_FORMS"] = "4"  # a broken row is left out, not an error
    data.update({"conditions-3-group_name": "Bad", "conditions-3-operator": "gt"})
    response = admin_client.post("/admin/routing/routingrule/summary/", data)
    assert response.json() == {
        "text": "If state is CA and source starts with fb [West], or company contains Inc "
        "[Big companies]: Acme Internal, Mon, Wed, Fri America/Chicago"
    }
    assert not RoutingRule.objects.exists()
    assert admin_client.get("/admin/routing/routingrule/summary/").status_code == 405
    rule = make_rule("r", destinations=[{"workspace": workspace}])
    url = f"/admin/routing/routingrule/{rule.pk}/summary/"
    edited = admin_client.post(url, {**rule_form(workspace), "distribution": "weighted"})
    assert edited.json()["text"] == "If state is CA: Acme Internal"
    assert rule.conditions.count() == 0
    bad = admin_client.post(url, {"name": "", "conditions-TOTAL_FORMS": "x"})
    assert bad.status_code == 200 and bad.json()["text"].startswith("Every lead")


def test_the_live_summary_is_scoped(client, worlds):
    mine, theirs = worlds
    client.force_login(make_member("mia", mine.workspace, "manager"))
    assert client.post(f"/admin/routing/routingrule/{theirs.rule.pk}/summary/").status_code == 404
    data = rule_form(theirs.workspace, workspaces=[theirs.workspace.pk])
    summary = client.post("/admin/routing/routingrule/summary/", data).json()["text"]
    assert theirs.workspace.name not in summary


def test_the_destination_workspace_picker_lists_workspaces_by_name(admin_client, workspace):
    for name in ("Zeta", "Beta", "Alpha"):
        Workspace.objects.create(name=name, slug=name.lower())
    response = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "routing", "model_name": "ruledestination", "field_name": "workspace"},
    )
    names = [row["text"] for row in response.json()["results"]]
    assert names == sorted(names) and len(names) == 4
