"""The manager dashboard in a real browser: a manager opens the admin and reads their
workspace's figures, the charts and what needs a person."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.conftest import make_member
from tests.core.test_dashboard import give_figures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Secret-1"


def test_a_manager_opens_the_admin_and_sees_the_dashboard(open_page, worlds):
    mine, theirs = worlds
    give_figures(
        mine, created=5, duplicate=2, rejected=1, routed=2, calls=3, sent=4, failed_devices=1
    )
    give_figures(
        theirs, created=70, duplicate=30, rejected=9, routed=6, calls=8, sent=11, failed_devices=2
    )
    make_member("mia", mine.workspace, "manager", password=PASSWORD)
    page = open_page()
    sign_in(page, "/admin/login/", "mia", PASSWORD)
    page.goto("/admin/")
    leads = page.locator("#panel-leads")
    expect(leads.locator(".lb-tile").first).to_contain_text("5")
    expect(leads.locator(".lb-tile").first).to_contain_text("5 in 24 h")
    expect(leads.locator("svg.lb-chart rect")).not_to_have_count(0)
    expect(page.locator("#panel-calls")).to_contain_text("SALE")
    expect(page.locator("#panel-caps")).to_contain_text("2 / 100")
    expect(page.locator("#panel-health .lb-badge")).to_be_visible()
    expect(page.locator("#dashboard")).not_to_contain_text("theirs")
    attention = page.locator("#needs-a-person")
    expect(attention).to_contain_text("Devices banned: 1")
    link = attention.get_by_role("link", name="VICIdial items Vici refused")
    acting = page.context.new_page()  # the dashboard stays open (and in the screenshots)
    acting.goto(link.get_attribute("href"))
    expect(acting.locator("#result_list tbody tr")).to_have_count(1)
