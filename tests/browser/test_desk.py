"""An agent on the desk, in a real browser, on a desktop and on a phone-sized screen."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads.models import Lead, LeadEvent
from leads.services import EventSpec, lead_events_record
from tests.browser.conftest import DESKTOP, PHONE, sign_in
from tests.conftest import make_member
from tests.leads.factories import LeadFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Secret-1"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_agent_finds_a_lead_by_phone_sets_a_callback_and_adds_a_note(open_page, roles, viewport):
    team = WorkspaceFactory(name="Sales team", slug="sales")
    make_member("ann", team, "agent", password=PASSWORD)
    lead = LeadFactory(
        workspace=team,
        first_name="Maria",
        last_name="Lopez",
        phone="+12134567890",
        timezone="America/New_York",
        status="routed",
    )
    LeadFactory(phone="+12134567890", first_name="Other")  # another workspace's twin

    page = open_page(viewport)
    sign_in(page, "/login/", "ann", PASSWORD)
    expect(page).to_have_url(re.compile(r"/leads/$"))
    expect(page.get_by_role("heading", name="Callbacks due")).to_be_visible()

    page.keyboard.press("/")  # the search box, from the keyboard
    page.keyboard.type("(213) 456-7890")
    page.keyboard.press("Enter")
    results = page.locator("table tbody tr")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Maria Lopez")
    results.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Maria Lopez")

    when = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d") + "T10:30"
    page.get_by_label("Call back", exact=True).check()
    page.fill("#id_callback_at", when)
    page.get_by_role("button", name="Save outcome").click()
    expect(page.locator("#lead-status")).to_have_text("Callback")
    expect(page.locator("#callback")).to_contain_text(
        f"{when.replace('T', ' ')} (America/New_York)"
    )

    page.keyboard.press("n")  # the note box, from the keyboard
    page.keyboard.type("Wants a quote for 12 panels")
    page.keyboard.press("Control+Enter")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Wants a quote for 12 panels")
    expect(timeline).to_contain_text("Callback set")

    # a call logged elsewhere appears without a reload (the page polls)
    lead_events_record(
        events=[EventSpec(lead_id=lead.pk, kind=LeadEvent.Kind.CALLED, message="Call ended")]
    )
    expect(timeline).to_contain_text("Call ended", timeout=15_000)
    assert Lead.objects.get(pk=lead.pk).status == "callback"


def test_an_agent_never_sees_the_admin(open_page, roles):
    make_member("ann", WorkspaceFactory(), "agent", password=PASSWORD)
    page = open_page()
    sign_in(page, "/login/", "ann", PASSWORD)
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    expect(page.locator("body")).to_contain_text("not authorized")
