"""The manager dashboard (the admin's first page): figures per workspace scope, never
another workspace's, a bounded number of queries, shared for a few seconds, links only
to pages the person may open, and a page that renders on an empty database."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from broadcast.models import Device, Message
from calllogs.models import CallLog
from core.dashboard import dashboard_compute, dashboard_figures
from dialer.models import OutboxItem, ViciServer
from leads.models import IntakeCount, Lead, Workspace
from routing.models import CapCounter, RoutingRule, RuleDestination
from tests.conftest import make_member
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

ADMIN_INDEX = "/admin/"


def _hour(now=None):
    return (now or timezone.now()).replace(minute=0, second=0, microsecond=0)


def give_figures(world, *, created, duplicate, rejected, routed, calls, sent, failed_devices):
    """Give a world's workspace its own distinct figures of every kind."""
    workspace, now = world.workspace, timezone.now()
    IntakeCount.objects.create(
        workspace=workspace, hour=_hour(), created=created, duplicate=duplicate, rejected=rejected
    )
    for _ in range(routed):
        LeadFactory(workspace=workspace, status=Lead.Status.ROUTED)
    for n in range(calls):
        CallLog.objects.create(
            server=world.vici_list.server,
            uniqueid=f"{world.vici_list.list_id}.{n}",
            call_time=now - timedelta(minutes=n + 1),
            list_id=world.vici_list.list_id,
            status="NA" if n else "SALE",
        )
    for n in range(sent):
        Message.objects.create(
            scheduled_at=now,
            enrollment_id=world.enrollment.pk,
            step=1,
            device=world.device,
            lead_id=world.lead.pk,
            body="hi",
            status="sent",
            sent_at=now - timedelta(minutes=n),
            created_at=now,
        )
    for n in range(failed_devices):
        Device.objects.create(
            workspace=workspace,
            name=f"down {n}",
            phone=f"+1555{workspace.pk:03d}{n:04d}",
            gateway_url="http://127.0.0.1:9/",
            gateway_session=f"down-{workspace.pk}-{n}",
            status="banned",
        )
    OutboxItem.objects.filter(pk=world.outbox.pk).update(state="failed")
    rule = RoutingRule.objects.create(name=f"capped {workspace.slug}")
    destination = RuleDestination.objects.create(
        rule=rule, workspace=workspace, cap_per_hour=100, cap_per_day=1000
    )
    CapCounter.objects.create(
        destination=destination, period="h", period_start=_hour(), count=routed
    )


@pytest.fixture
def figured(worlds):
    mine, theirs = worlds
    give_figures(
        mine, created=5, duplicate=2, rejected=1, routed=2, calls=3, sent=4, failed_devices=1
    )
    give_figures(
        theirs, created=70, duplicate=30, rejected=9, routed=6, calls=8, sent=11, failed_devices=2
    )
    return worlds


def _panels(workspace_ids):
    return dashboard_compute(workspace_ids)["panels"]


def test_figures_of_one_workspace_are_its_own(figured):
    mine = figured[0].workspace
    panels = _panels(frozenset({mine.pk}))
    intake = panels["leads"]["intake"]
    assert (intake["created"]["day"], intake["duplicate"]["day"], intake["rejected"]["day"]) == (
        5,
        2,
        1,
    )
    assert panels["leads"]["outcome"]["routed"]["day"] == 2
    assert panels["leads"]["outcome"]["pending"]["day"] == 1  # the world's own lead
    assert panels["calls"]["day"] == 3
    assert {d["status"]: d["day"] for d in panels["calls"]["dispositions"]} == {"SALE": 1, "NA": 2}
    assert panels["broadcast"]["day"] == 4
    assert {d["status"]: d["count"] for d in panels["broadcast"]["devices"]}["banned"] == 1
    assert panels["dialer"]["failed"] == 1 and panels["dialer"]["pending"] == 0
    assert [s["name"] for s in panels["dialer"]["servers"]] == ["vici1"]
    caps = panels["caps"]["caps"]
    assert [(c["workspace"], c["h"]["used"], c["h"]["left"]) for c in caps] == [(mine.name, 2, 98)]


def test_every_workspace_adds_up_for_an_admin(figured):
    panels = _panels(None)
    assert panels["leads"]["intake"]["created"]["day"] == 75
    assert panels["leads"]["outcome"]["routed"]["day"] == 8
    assert panels["calls"]["day"] == 13  # and the two calls of no list
    assert panels["broadcast"]["day"] == 15
    assert panels["dialer"]["failed"] == 2
    assert len(panels["caps"]["caps"]) == 2


def test_a_manager_of_one_workspace_never_sees_the_others_figures(client, figured):
    mine, theirs = figured
    client.force_login(make_member("mia", mine.workspace, "manager"))
    response = client.get(ADMIN_INDEX)
    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    leads = dashboard["by_key"]["leads"]
    assert leads["intake"]["created"]["day"] == 5 and leads["intake"]["rejected"]["day"] == 1
    assert dashboard["by_key"]["calls"]["day"] == 3
    page = response.content.decode()
    assert theirs.workspace.name not in page
    assert "capped theirs" not in page and "capped mine" in page
    # Naming their workspace answers as one that does not exist.
    assert client.get(ADMIN_INDEX, {"workspace": theirs.workspace.pk}).status_code == 400
    assert client.get(ADMIN_INDEX, {"workspace": 987654}).status_code == 400
    assert client.get(ADMIN_INDEX, {"workspace": "x"}).status_code == 400


def test_an_admin_narrows_to_one_workspace(admin_client, figured):
    theirs = figured[1].workspace
    response = admin_client.get(ADMIN_INDEX, {"workspace": theirs.pk})
    assert response.status_code == 200
    assert response.context["dashboard"]["by_key"]["leads"]["intake"]["created"]["day"] == 70
    everything = admin_client.get(ADMIN_INDEX).context["dashboard"]["by_key"]["leads"]
    assert everything["intake"]["created"]["day"] == 75


def test_links_lead_to_the_pages_that_act_and_only_pages_the_person_may_open(client, figured):
    mine = figured[0]
    client.force_login(make_member("mia", mine.workspace, "manager"))
    attention = client.get(ADMIN_INDEX).context["dashboard"]["attention"]
    by_label = {a["label"]: a for a in attention}
    failed = by_label["VICIdial items Vici refused"]
    assert failed["count"] == 1
    assert failed["url"] == reverse("admin:dialer_outboxitem_changelist") + "?state__exact=failed"
    assert client.get(failed["url"]).context["cl"].result_count == 1
    banned = by_label["Devices banned"]
    assert banned["count"] == 1 and banned["url"].endswith("?status__exact=banned")
    assert by_label["Leads waiting to retry routing"]["count"] == 1
    # Servers are admin pages: a manager's paused-server line has no link.
    ViciServer.objects.update(paused_until=timezone.now() + timedelta(hours=1))
    client.get(ADMIN_INDEX)  # cached: the same figures for a few seconds
    from django.core.cache import cache

    cache.delete_pattern("dashboard:*")
    attention = client.get(ADMIN_INDEX).context["dashboard"]["attention"]
    paused = {a["label"]: a for a in attention}["VICIdial servers paused or off"]
    assert paused["count"] == 1 and paused["url"] is None


def _query_count(workspace_ids) -> int:
    with CaptureQueriesContext(connection) as queries:
        dashboard_compute(workspace_ids)
    return len(queries.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_data(figured):
    mine = figured[0].workspace
    dashboard_compute(None)  # the /health probes' snapshot is shared for a while
    few_scoped, few_all = _query_count(frozenset({mine.pk})), _query_count(None)
    for n in range(5):
        workspace = Workspace.objects.create(name=f"More {n}", slug=f"more-{n}")
        give_figures(
            figured[0].__class__(**{**figured[0].__dict__, "workspace": workspace}),
            created=1,
            duplicate=0,
            rejected=0,
            routed=1,
            calls=0,
            sent=0,
            failed_devices=1,
        )
    many_ids = frozenset(Workspace.objects.values_list("pk", flat=True))
    assert _query_count(many_ids) == few_scoped
    assert _query_count(None) == few_all
    assert few_scoped <= 15 and few_all <= 15


def test_figures_are_shared_for_a_few_seconds(figured):
    mine = figured[0].workspace
    first = dashboard_figures([mine.pk])
    with CaptureQueriesContext(connection) as queries:
        again = dashboard_figures([mine.pk])
    assert again["computed_at"] == first["computed_at"] and not queries.captured_queries


def test_the_page_renders_on_an_empty_database(admin_client):
    response = admin_client.get(ADMIN_INDEX)
    assert response.status_code == 200
    page = response.content.decode()
    for panel in ("health", "leads", "caps", "dialer", "calls", "broadcast"):
        assert f'id="panel-{panel}"' in page
    assert "<svg" in page and "Nothing needs a person" in page
    assert "Everything in the admin" in page  # the models are still listed


def test_people_without_lead_access_get_the_plain_index(client, worlds):
    client.force_login(make_member("ivy", worlds[0].workspace, "integrator"))
    response = client.get(ADMIN_INDEX)
    assert response.status_code == 200 and "dashboard" not in response.context


def test_the_health_grade_comes_with_its_reason(admin_client, settings):
    settings.HEALTH_THRESHOLDS = {**settings.HEALTH_THRESHOLDS, "leads_per_day": (0, 100)}
    response = admin_client.get(ADMIN_INDEX)
    health = response.context["dashboard"]["by_key"]["health"]
    assert health["grade"] == "yellow"
    assert "leads per day is 0 (yellow from 0, red above 100)" in health["reasons"]
    assert "leads per day is 0" in response.content.decode()


def test_a_person_of_no_active_workspace_sees_zeros(client, figured):
    mine = figured[0].workspace
    manager = make_member("max", mine, "manager")
    Workspace.objects.filter(pk=mine.pk).update(is_active=False)
    client.force_login(manager)
    response = client.get(ADMIN_INDEX)
    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    assert dashboard["by_key"]["leads"]["intake"]["created"]["day"] == 0
    assert dashboard["by_key"]["calls"]["day"] == 0 and dashboard["attention"] == []
