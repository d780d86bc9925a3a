"""The rule and sequence editors in a real browser: a manager builds both without typing a
code or JSON, reads the rule in plain words, tests it on recent leads, and previews the
sequence."""

import pytest
from playwright.sync_api import expect

from broadcast.models import Sequence
from leads.models import Workspace
from routing.models import RoutingRule
from tests.browser.conftest import DESKTOP, sign_in
from tests.conftest import make_member
from tests.routing.factories import make_leads

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Secret-1"
LAPTOP = {"width": 1024, "height": 768}
SUMMARY = (
    "Leads of Acme, if state is CA or TX and source starts with fb [West], "
    "or custom utm_campaign is spring [Spring promo]: 70% Acme, 30% Partner Co, at most 100 a day, "
    "Mon-Fri 09:00-18:00 America/Los_Angeles"
)


def pick_workspace(page, row: int, name: str) -> None:
    """The destination's workspace: an autocomplete (select2) box. A pick that did not take
    (the box still empty: on a loaded machine select2 may redraw its list under the click)
    is made again, three times at most."""
    box = page.locator(f"#destinations-{row} .field-workspace")
    term = name[:4]
    for attempt in range(3):
        box.locator(".select2-selection").click()
        # The open dropdown's own search and results: a loaded machine may still hold the
        # previous row's closing dropdown, whose option would set that row instead. The
        # results are the typed term's, not the list shown on opening.
        opened = page.locator(".select2-container--open .select2-dropdown")
        with page.expect_response(lambda r: "/autocomplete/" in r.url and f"term={term}" in r.url):
            opened.locator(".select2-search__field").fill(term)
        opened.locator(".select2-results__option", has_text=name).click()
        try:
            expect(box.locator(".select2-selection__rendered")).to_contain_text(name, timeout=3000)
            return
        except AssertionError:
            if attempt == 2:
                raise
            page.keyboard.press("Escape")


def fill_destination(page, row: int, name: str, weight: int) -> None:
    pick_workspace(page, row, name)
    prefix = f"#id_destinations-{row}"
    page.fill(f"{prefix}-weight", str(weight))
    page.fill(f"{prefix}-cap_per_day", "100")
    for day in (5, 6):  # Saturday and Sunday closed
        page.uncheck(f"{prefix}-schedule_days_{day}")
    page.fill(f"{prefix}-schedule_start", "09:00")
    page.fill(f"{prefix}-schedule_end", "18:00")
    page.select_option(f"{prefix}-timezone", "America/Los_Angeles")


def fill_condition(page, row: int, group: str, field: str, operator: str, value: str) -> None:
    prefix = f"#id_conditions-{row}"
    page.fill(f"{prefix}-group_name", group)
    page.select_option(f"{prefix}-field_0", field)
    page.select_option(f"{prefix}-operator", operator)
    page.fill(f"{prefix}-value", value)


def test_a_manager_builds_reads_and_tests_a_rule_with_an_or_group(open_page, roles):
    acme = Workspace.objects.create(name="Acme", slug="acme")
    partner = Workspace.objects.create(name="Partner Co", slug="partner", kind="partner")
    for workspace in (acme, partner):
        make_member("mia", workspace, "manager", password=PASSWORD)
    west = make_leads(acme, 2, state="CA", source="fb_ads")
    make_leads(acme, 2, state="NY", source="fb_ads")
    spring = make_leads(acme, 1, state="NY", source="web", custom={"utm_campaign": "spring"})

    page = open_page()
    sign_in(page, "/admin/login/", "mia", PASSWORD)
    page.goto("/admin/routing/routingrule/add/")
    page.fill("#id_name", "West and spring")
    page.select_option("#id_workspaces_from", label="Acme")
    page.click("#id_workspaces_add")
    page.select_option("#id_distribution", "weighted")

    # the custom keys of recent leads are in the picker
    expect(
        page.locator("#id_conditions-0-field_0 option[value='custom.utm_campaign']")
    ).to_have_count(1)
    fill_condition(page, 0, "West", "state", "in", "CA, TX")
    page.get_by_role("button", name="Add another Rule condition").click()
    fill_condition(page, 1, "West", "source", "startswith", "fb")
    page.get_by_role("button", name="Add another Rule condition").click()
    fill_condition(page, 2, "Spring promo", "custom.utm_campaign", "eq", "spring")

    fill_destination(page, 0, "Acme", 7)
    page.get_by_role("button", name="Add another Rule destination").click()
    fill_destination(page, 1, "Partner Co", 3)
    assert_fits_the_width(page, "#conditions-group")
    expect(page.locator(".field-summary")).to_contain_text(SUMMARY)  # read as it is built
    page.screenshot(path=str(_shot("rule-form-filled")), full_page=True)
    page.click("input[name=_continue]")

    expect(page.locator(".errornote")).to_have_count(0)
    expect(page.locator(".field-summary")).to_contain_text(SUMMARY)
    page.screenshot(path=str(_shot("rule-form-saved")), full_page=True)
    rule = RoutingRule.objects.get()
    assert sorted({c.group for c in rule.conditions.all()}) == [0, 1]
    assert {d.schedule_days for d in rule.destinations.all()} == {"01234"}

    page.goto("/admin/routing/routingrule/")
    expect(page.locator("#result_list")).to_contain_text(SUMMARY)
    page.screenshot(path=str(_shot("rule-changelist")), full_page=True)

    page.goto(f"/admin/routing/routingrule/{rule.pk}/change/")
    page.get_by_role("link", name="Test this rule").click()
    page.fill("#id_last", "50")
    page.get_by_role("button", name="Test").click()
    expect(page.get_by_role("heading", name="3 of 5 leads would match")).to_be_visible()
    rows = page.locator("table.rule-test tbody tr")
    expect(rows).to_have_count(3)
    matched = {int(t.strip("#")) for t in page.locator("table.rule-test td.lead").all_inner_texts()}
    assert matched == set(west + spring)
    page.screenshot(path=str(_shot("rule-test")), full_page=True)


def _shot(name: str):
    from tests.browser.conftest import OUTPUT

    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT / f"editors-{name}.png"


@pytest.mark.parametrize("viewport", [DESKTOP, LAPTOP], ids=["desktop", "small-laptop"])
def test_a_sequence_is_built_with_checkboxes_and_key_value_rows_and_previews(
    open_page, roles, viewport
):
    acme = Workspace.objects.create(name="Acme", slug="acme")
    make_member("mia", acme, "manager", password=PASSWORD)
    make_leads(acme, 1, first_name="Maria")

    page = open_page(viewport)
    sign_in(page, "/admin/login/", "mia", PASSWORD)
    page.goto("/admin/broadcast/sequence/add/")
    page.select_option("#id_workspace", label="Acme")
    page.fill("#id_name", "Solar follow-up")
    page.check("input[name=stop_statuses][value=callback]")
    page.uncheck("input[name=stop_statuses][value=not_interested]")
    keys = page.locator("input[name=placeholder_defaults_key]")
    values = page.locator("input[name=placeholder_defaults_value]")
    keys.nth(0).fill("promo")
    values.nth(0).fill("SUN10")
    keys.nth(1).fill("first_name")
    values.nth(1).fill("there")
    page.get_by_role("button", name="Add a row").click()
    expect(keys).to_have_count(3)
    page.fill("#id_steps-0-template", "Hi {first_name}, code {promo}")
    page.get_by_role("button", name="Add another Step").click()
    page.fill("#id_steps-1-position", "2")
    page.fill("#id_steps-1-delay_minutes", "1440")
    page.fill("#id_steps-1-template", "Still keen, {first_name}? " + "Reply STOP to opt out. " * 8)
    page.fill("#id_steps-1-media_url", "https://example.com/" + "brochure/" * 12 + "solar.pdf")
    preview = page.locator(".field-preview")
    expect(preview).to_contain_text("(+0 min) Hi Maria, code SUN10")  # live, before saving
    assert_fits_the_width(page)
    page.screenshot(path=str(_shot(f"sequence-form-filled-{viewport['width']}")), full_page=True)
    page.click("input[name=_continue]")

    expect(page.locator(".errornote")).to_have_count(0)
    expect(preview).to_contain_text("For Maria")
    expect(preview).to_contain_text("Hi Maria, code SUN10")
    expect(preview).to_contain_text("(+1440 min) Still keen, Maria?")
    assert_fits_the_width(page)
    page.screenshot(path=str(_shot(f"sequence-form-saved-{viewport['width']}")), full_page=True)
    sequence = Sequence.objects.get()
    assert sequence.placeholder_defaults == {"promo": "SUN10", "first_name": "there"}
    assert sequence.stop_statuses == ["callback", "sale", "dnc"]
    expect(page.locator("input[name=stop_statuses][value=callback]")).to_be_checked()
    expect(page.locator("input[name=placeholder_defaults_key]").nth(0)).to_have_value("promo")


def assert_fits_the_width(page, inline: str = "#steps-group") -> None:
    """Nothing on the page is wider than the window (no sideways scrolling), and the inline
    stays within the content column."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the window"
    content = page.locator("#content-main").bounding_box()
    right = content["x"] + content["width"] + 1
    for selector in (inline, "input:visible", "textarea:visible", "select:visible"):
        for box in page.locator(f"#content-main {selector}").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().right + window.scrollX)"
        ):
            assert box <= right, f"{selector} ends at {box}px, past the content ({right}px)"
