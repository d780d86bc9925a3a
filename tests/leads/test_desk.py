"""The agent desk: sign-in at /login/, the queue, search, the lead page's note and outcomes
(through the shared services), the live timeline, scope, and bounded queries."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from leads.models import Lead, LeadEvent, Suppression
from leads.selectors import desk_queue_parts, lead_search
from leads.services import EventSpec, lead_events_record
from leads.signals import lead_status_changed
from tests.conftest import make_member
from tests.leads.factories import LeadFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(roles):
    return WorkspaceFactory(name="Sales team", slug="sales", timezone="America/New_York")


@pytest.fixture
def agent(client, team):
    client.force_login(make_member("ann", team, "agent"))
    return client


def test_agents_sign_in_at_login_and_land_on_the_desk(client, team):
    make_member("ann", team, "agent", password="pw-Secret-1")
    assert client.get("/leads/")["Location"] == "/login/?next=/leads/"
    response = client.post("/login/", {"username": "ann", "password": "pw-Secret-1"})
    assert response.status_code == 302 and response["Location"] == "/leads/"
    page = client.get("/leads/")
    assert page.status_code == 200 and b"Callbacks due" in page.content
    assert b'href="/admin/"' not in page.content  # agents get no admin link


def test_the_queue_puts_due_callbacks_first_and_hides_other_workspaces(agent, team):
    now = timezone.now()
    due = LeadFactory(workspace=team, status="callback", callback_at=now - timedelta(minutes=5))
    later = LeadFactory(workspace=team, status="callback", callback_at=now + timedelta(hours=3))
    new = LeadFactory(workspace=team, status="routed")
    routed_in = LeadFactory(status="routed", destination_workspace=team)
    contacted = LeadFactory(workspace=team, status="contacted")
    LeadFactory(status="routed")  # another workspace's
    LeadFactory(workspace=team, status="sale")  # closed
    page = agent.get("/leads/")
    queue = page.context["queue"]
    assert queue.callbacks_due == [due]
    local = due.callback_at.astimezone(ZoneInfo("America/New_York"))
    assert f"{local:%Y-%m-%d %H:%M} America/New_York" in page.content.decode()
    assert set(queue.new) == {new, routed_in}
    assert set(queue.contacted) == {later, contacted}


@pytest.mark.parametrize(
    "q",
    [
        "(213) 456-7890",
        "213.456.7890",
        "+1 213 456 7890",
        "ANA@example.com",
        "ana",
        "Ana Lopez",
        "EXT-9",
    ],
)
def test_search_finds_by_phone_in_any_format_email_name_and_external_id(agent, team, q):
    lead = LeadFactory(
        workspace=team,
        phone="+12134567890",
        email="ana@example.com",
        first_name="Ana",
        last_name="Lopez",
        external_id="EXT-9",
    )
    LeadFactory(phone="+12134567890", email="ana@example.com", first_name="Ana")  # not theirs
    assert agent.get("/leads/", {"q": q}).context["results"] == [lead]


def test_another_workspace_lead_is_a_404_everywhere(agent, team):
    other = LeadFactory()
    for path in ("", "timeline/"):
        assert agent.get(f"/leads/{other.pk}/{path}").status_code == 404
    assert agent.post(f"/leads/{other.pk}/note/", {"text": "hi"}).status_code == 404
    assert agent.post(f"/leads/{other.pk}/outcome/", {"outcome": "sale"}).status_code == 404
    assert not LeadEvent.objects.filter(lead_id=other.pk, kind="note").exists()
    assert Lead.objects.get(pk=other.pk).status == "pending"


def test_a_note_is_a_lead_event(agent, team):
    lead = LeadFactory(workspace=team)
    response = agent.post(f"/leads/{lead.pk}/note/", {"text": "Asked for a quote"})
    assert response.status_code == 302
    note = LeadEvent.objects.get(lead_id=lead.pk, kind="note")
    assert note.message == "Asked for a quote" and note.actor == "user:ann"
    assert "Asked for a quote" in agent.get(f"/leads/{lead.pk}/").content.decode()
    empty = agent.post(f"/leads/{lead.pk}/note/", {"text": "   "})
    assert empty.status_code == 400 and empty.context["note_form"].errors


def test_a_callback_is_set_in_the_lead_time_zone(agent, team):
    lead = LeadFactory(workspace=team, timezone="America/Los_Angeles", status="routed")
    when = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%d") + "T15:30"
    response = agent.post(
        f"/leads/{lead.pk}/outcome/", {"outcome": "callback", "callback_at": when}
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.status == "callback"
    local = lead.callback_at.astimezone(ZoneInfo("America/Los_Angeles"))
    assert local.strftime("%Y-%m-%dT%H:%M") == when
    kinds = set(LeadEvent.objects.filter(lead_id=lead.pk).values_list("kind", flat=True))
    assert {"callback_set", "status_changed"} <= kinds


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"outcome": "callback"}, "callback_at"),
        ({"outcome": "callback", "callback_at": "2001-01-01T10:00"}, "callback_at"),
        ({"outcome": "callback", "callback_at": "not a date"}, "callback_at"),
        ({"outcome": "maybe"}, "outcome"),
    ],
)
def test_bad_outcomes_are_form_errors(agent, team, data, field):
    lead = LeadFactory(workspace=team)
    response = agent.post(f"/leads/{lead.pk}/outcome/", data)
    assert response.status_code == 400 and field in response.context["outcome_form"].errors
    assert Lead.objects.get(pk=lead.pk).status == "pending"


def test_do_not_contact_from_the_desk_is_leads_mark_dnc(
    agent, team, django_capture_on_commit_callbacks
):
    lead = LeadFactory(workspace=team, status="routed", phone="+12135550123", email="x@ex.com")
    heard = []

    def receiver(sender, **kwargs):
        heard.append((kwargs["lead_ids"], kwargs["status"]))

    lead_status_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = agent.post(f"/leads/{lead.pk}/outcome/", {"outcome": "dnc"})
    finally:
        lead_status_changed.disconnect(receiver)
    assert response.status_code == 302
    assert Lead.objects.get(pk=lead.pk).status == "dnc"
    assert set(Suppression.objects.values_list("kind", "value")) == {
        ("phone", "+12135550123"),
        ("email", "x@ex.com"),
    }
    assert LeadEvent.objects.filter(lead_id=lead.pk, kind="opted_out").exists()
    assert heard == [([lead.pk], "dnc")]  # the dialer and broadcast react to this


def test_sale_cannot_reopen_a_do_not_contact_lead(agent, team):
    lead = LeadFactory(workspace=team, status="dnc")
    response = agent.post(f"/leads/{lead.pk}/outcome/", {"outcome": "sale"})
    assert response.status_code == 400
    assert Lead.objects.get(pk=lead.pk).status == "dnc"


def test_the_timeline_answers_204_until_something_new_happens(agent, team):
    lead = LeadFactory(workspace=team)
    marker = agent.get(f"/leads/{lead.pk}/").context["marker"]
    url = f"/leads/{lead.pk}/timeline/"
    assert agent.get(url, {"since": marker}).status_code == 204
    lead_events_record(
        events=[
            EventSpec(
                lead_id=lead.pk,
                kind=LeadEvent.Kind.CALLED,
                message="Call ended",
                at=timezone.now() - timedelta(days=1),  # an older call, arriving late
            )
        ]
    )
    fresh = agent.get(url, {"since": marker})
    assert fresh.status_code == 200 and b"Call ended" in fresh.content
    assert agent.get(url, {"since": fresh.context["marker"]}).status_code == 204


def test_a_view_only_person_sees_no_forms_and_cannot_post(client, team, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("val")
    user.user_permissions.set(Permission.objects.filter(codename="view_lead"))
    make_member("val", team, "integrator")  # scope only; integrators may not view leads
    user.user_permissions.add(Permission.objects.get(codename="view_lead"))
    client.force_login(user)
    lead = LeadFactory(workspace=team)
    page = client.get(f"/leads/{lead.pk}/")
    assert page.status_code == 200 and b"outcome-form" not in page.content
    assert client.post(f"/leads/{lead.pk}/note/", {"text": "x"}).status_code == 403
    assert client.post(f"/leads/{lead.pk}/outcome/", {"outcome": "sale"}).status_code == 403


def test_integrators_have_no_desk(client, team):
    client.force_login(make_member("ivy", team, "integrator"))
    assert client.get("/leads/").status_code == 403


@pytest.mark.parametrize("rows", [3, 30])
def test_desk_pages_cost_the_same_at_3_or_30_rows(agent, team, rows, django_assert_max_num_queries):
    now = timezone.now()
    for status in ("routed", "contacted"):
        LeadFactory.create_batch(rows, workspace=team, status=status)
    LeadFactory.create_batch(rows, workspace=team, status="callback", callback_at=now)
    lead = LeadFactory(workspace=team)
    lead_events_record(
        events=[EventSpec(lead_id=lead.pk, kind="updated", message=str(n)) for n in range(rows)]
    )
    # session, user, permissions (2), memberships; the three queue parts
    with django_assert_max_num_queries(8):
        assert agent.get("/leads/").status_code == 200
    with django_assert_max_num_queries(8):
        assert agent.get("/leads/", {"q": "(213) 200-0001"}).status_code == 200
    # ... the lead, the marker, its events, the archive tables, the broadcast panel (2)
    with django_assert_max_num_queries(12):
        assert agent.get(f"/leads/{lead.pk}/").status_code == 200
    # a poll: session, user, permissions (2), memberships, the lead, the marker; then events
    # and the archive tables when something is new
    with django_assert_max_num_queries(9):
        assert agent.get(f"/leads/{lead.pk}/timeline/", {"since": "0"}).status_code == 200
    marker = agent.get(f"/leads/{lead.pk}/").context["marker"]
    with django_assert_max_num_queries(7):
        assert agent.get(f"/leads/{lead.pk}/timeline/", {"since": marker}).status_code == 204


def test_every_desk_query_can_use_an_index(team):
    """With sequential scans priced out, no part of the queue or a search scans a table: an
    index serves each (at millions of leads the planner takes it on its own)."""
    parts = desk_queue_parts(workspace_ids=[team.pk], now=timezone.now())
    queue_parts = [queryset[:25] for queryset in parts.values()]
    searches = [
        lead_search(workspace_ids=[team.pk], q=q)[:50]
        for q in ("(213) 456-7890", "ana@example.com", "Ana Lopez", "Lopez", "EXT-9")
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for queryset in queue_parts + searches:
            sql, params = queryset.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan on leads_lead" not in plan, plan
