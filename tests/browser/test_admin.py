"""The admin in a real browser: a manager sees only their workspaces; a view-only person
finds no action that changes data."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.conftest import make_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Secret-1"


def test_a_manager_sees_only_their_workspaces_leads_rules_and_devices(open_page, worlds):
    mine, _ = worlds
    make_member("mia", mine.workspace, "manager", password=PASSWORD)
    page = open_page()
    sign_in(page, "/admin/login/", "mia", PASSWORD)
    for path, own, other in [
        ("/admin/leads/lead/", "Minelead", "Theirslead"),
        ("/admin/routing/routingrule/", "mine rule", "theirs rule"),
        ("/admin/broadcast/device/", "mine device", "theirs device"),
        ("/admin/dialer/vicilist/", "mine list", "theirs list"),
    ]:
        page.goto(path)
        rows = page.locator("#result_list tbody")
        expect(rows).to_contain_text(own)
        expect(rows).not_to_contain_text(other)
        expect(page.locator("#changelist-filter")).not_to_contain_text("theirs team")
    page.goto("/admin/")
    expect(page.locator("#content-main")).not_to_contain_text("VICIdial servers")


def test_a_view_only_person_finds_no_action_that_changes_data(open_page, worlds):
    user = get_user_model().objects.create_user("vic", password=PASSWORD, is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__startswith="view_")
        | Permission.objects.filter(codename="all_workspaces")
    )
    page = open_page()
    sign_in(page, "/admin/login/", "vic", PASSWORD)
    page.goto("/admin/")
    links = page.locator("#content-main table a[href$='/']:not(.addlink):not(.changelink)")
    hrefs = sorted({links.nth(i).get_attribute("href") for i in range(links.count())})
    assert len(hrefs) > 15
    for href in hrefs:
        page.goto(href)
        expect(page.locator("select[name=action]")).to_have_count(0)
        expect(page.locator("a.addlink")).to_have_count(0)
