import datetime as dt

from broadcast.scheduling import in_window, recipient_timezone, window_next
from broadcast.services.enrollment import LEAD_COLUMNS, lead_dict
from broadcast.templating import (
    lead_values,
    template_columns,
    template_fields,
    template_render,
    template_validate,
)


def test_unknown_placeholder_is_an_error_at_save_time():
    errors = template_validate("Hi {first_name}, code {promo}", {})
    assert errors and "{promo}" in errors[0]
    assert template_validate("Hi {first_name}, code {promo}", {"promo": "WELCOME"}) == []


def test_broken_braces_and_format_specs_are_refused():
    assert template_validate("Hi {first_name", {})
    assert template_validate("Total {first_name:>10}", {})
    assert template_validate("{0}", {})
    assert template_validate("   ", {}) == ["The message is empty."]
    assert template_validate("Literal {{braces}} ok", {}) == []


def test_render_uses_lead_fields_custom_keys_and_fallbacks():
    lead = {"first_name": "", "last_name": "Lopez", "company": "Acme", "custom": {"promo": "X1"}}
    values = lead_values(lead, {"first_name": "there", "promo": "WELCOME", "city": "your city"})
    text = template_render("Hi {first_name} from {company}: {promo} in {city}", values)
    assert text == "Hi there from Acme: X1 in your city"


def test_rendering_from_the_templates_columns_only_renders_the_same():
    """Enrollment fetches and builds only what the first step renders: the same text as
    rendering from the whole lead, for lead fields, full_name, custom keys and defaults."""
    full = {column: "" for column in LEAD_COLUMNS}
    full |= {"first_name": "Ana", "last_name": "Lopez", "company": "", "state": "CA"}
    full["custom"] = '{"promo": "X1", "n": 5, "flag": true, "empty": ""}'
    defaults = {"company": "your company", "promo": "WELCOME", "n": "0", "empty": "E", "city": "C"}
    templates = [
        "Hi {first_name}",
        "Hi {full_name} from {company}",
        "{promo} {n} {flag} {empty} {city} in {state}",
        "No placeholders at all",
        "{last_name}{{literal}}",
    ]
    for template in templates:
        columns = template_columns(template, defaults, LEAD_COLUMNS)
        assert set(columns) <= set(LEAD_COLUMNS)
        whole = lead_values(lead_dict([full[c] for c in LEAD_COLUMNS]), defaults)
        part = lead_values(
            lead_dict([full[c] for c in columns], columns), defaults, set(template_fields(template))
        )
        assert template_render(template, part) == template_render(template, whole), template
    assert template_columns("Hi {first_name}", defaults, LEAD_COLUMNS) == ("first_name",)
    assert template_columns("{full_name}", {}, LEAD_COLUMNS) == ("first_name", "last_name")
    assert "custom" in template_columns("{promo}", defaults, LEAD_COLUMNS)
    assert "custom" not in template_columns("{company}", defaults, LEAD_COLUMNS)
    assert template_columns("Hi {first_name", defaults, LEAD_COLUMNS) == LEAD_COLUMNS


def test_recipient_timezone_from_lead_then_phone_prefix_then_fallback():
    assert (
        recipient_timezone(lead_timezone="Europe/Madrid", phone="+12125550142", fallback="UTC")
        == "Europe/Madrid"
    )
    assert (
        recipient_timezone(lead_timezone="", phone="+12125550142", fallback="UTC")
        == "America/New_York"
    )
    assert (
        recipient_timezone(lead_timezone="", phone="+13105550100", fallback="UTC")
        == "America/Los_Angeles"
    )
    assert (
        recipient_timezone(lead_timezone="Not/AZone", phone="", fallback="Europe/Paris")
        == "Europe/Paris"
    )


def test_window_next_moves_into_the_recipients_hours():
    start, end = dt.time(9), dt.time(21)
    # 02:00 UTC is 21:00 the previous evening in New York (EST): next window opens 09:00 EST.
    at = dt.datetime(2026, 12, 2, 2, 0, tzinfo=dt.UTC)
    moved = window_next(at, "America/New_York", start, end)
    assert moved == dt.datetime(2026, 12, 2, 14, 0, tzinfo=dt.UTC)
    assert in_window(moved, "America/New_York", start, end)
    inside = dt.datetime(2026, 12, 2, 15, 30, tzinfo=dt.UTC)
    assert window_next(inside, "America/New_York", start, end) == inside
    # A window across midnight (20:00-08:00 local).
    night = window_next(dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC), "UTC", dt.time(20), dt.time(8))
    assert night == dt.datetime(2026, 12, 2, 20, tzinfo=dt.UTC)
