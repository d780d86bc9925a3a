"""The manager dashboard in a real browser: a manager opens the admin and reads their
workspace's figures, the charts and what needs a person, and sees them move as leads come in
through the API."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.conftest import make_api_key, make_member
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


def _in_24_hours(page, tile: str):
    """A "Leads in" tile's figure of the last 24 hours ("5 in 24 h" under its big number of
    today, which the hour of the run could split)."""
    label = page.locator("small", has_text=re.compile(f"^{tile}$"))
    tile_box = page.locator("#panel-leads .lb-tile").filter(has=label)
    return tile_box.locator("small", has_text=re.compile(r"^[\d,]+ in 24 h$"))


def _count(locator) -> int:
    return int(locator.inner_text().split(" ")[0].replace(",", ""))


def _chart_total(page, series: str) -> int:
    """The sum of one series over the leads chart's bars (each bar's title: "13:00 new: 4")."""
    titles = page.locator("#panel-leads svg.lb-chart rect title").all_text_contents()
    return sum(int(t.rsplit(": ", 1)[1]) for t in titles if t.split(" ")[1] == f"{series}:")


def test_the_dashboard_follows_the_leads_a_manager_s_workspace_receives(
    open_page, browser_settings, roles, workspace, partner_workspace
):
    browser_settings.DASHBOARD_CACHE_SECONDS = 0  # every load computes (default: 5 s shared)
    make_member("mo", workspace, "manager", password=PASSWORD)
    feeder = open_page().request  # the API, from a context of its own (no session)

    def post(ws, rows):
        key = make_api_key(ws)
        response = feeder.post(
            "/api/v1/leads/bulk/", data=rows, headers={"Authorization": f"Api-Key {key}"}
        )
        assert response.status == 200, response.text()
        return [r["status"] for r in response.json()]

    assert post(workspace, [{"phone": f"+1213555010{n}"} for n in (1, 2)]) == ["created"] * 2
    page = open_page()
    sign_in(page, "/admin/login/", "mo", PASSWORD)
    page.goto("/admin/")
    new, duplicate, rejected = (_in_24_hours(page, t) for t in ("New", "Duplicate", "Rejected"))
    expect(new).to_be_visible()
    before = {f: _count(f) for f in (new, duplicate, rejected)}
    assert before[new] == 2 and _chart_total(page, "new") == 2

    rows = [{"phone": f"+1213555020{n}"} for n in range(3)]
    rows += [{"phone": "+12135550101"}, {"phone": "not a phone"}]
    assert post(workspace, rows) == ["created"] * 3 + ["duplicate", "rejected"]
    post(partner_workspace, [{"phone": f"+1310555030{n}"} for n in range(7)])  # not theirs
    page.reload()
    expect(new).to_have_text(f"{before[new] + 3} in 24 h")
    expect(duplicate).to_have_text(f"{before[duplicate] + 1} in 24 h")
    expect(rejected).to_have_text(f"{before[rejected] + 1} in 24 h")
    assert _chart_total(page, "new") == 5 and _chart_total(page, "duplicate") == 1
