from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from core.safe_url import http_url_or_empty, is_http_url, validate_http_url
from leads.models import LeadEvent
from leads.services import EventSpec, lead_events_record
from tests.leads.factories import LeadFactory

BAD = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://rec.example/1.mp3",
    "//rec.example/1.mp3",
    "/recordings/1.mp3",
    "http://",
    "http:///path",
    "https://rec.example/a b.mp3",
    "http://[::1",
    "",
    None,
    42,
]
GOOD = [
    "http://rec.example/1.mp3",
    "https://rec.example:8443/RECORDINGS/MP3/2026/x.mp3?a=1&b=2",
    "HTTPS://REC.EXAMPLE/1.mp3",
    "http://10.0.0.5/RECORDINGS/1.wav",
]


@pytest.mark.parametrize("value", BAD)
def test_only_http_urls_pass(value):
    assert is_http_url(value) is False
    assert http_url_or_empty(value) == ""


@pytest.mark.parametrize("value", GOOD)
def test_http_urls_pass_unchanged(value):
    assert is_http_url(value) is True
    assert http_url_or_empty(f"  {value} ") == value
    validate_http_url(value)


def test_the_validator_raises_a_form_error():
    with pytest.raises(ValidationError) as info:
        validate_http_url("javascript:alert(1)")
    assert info.value.code == "invalid_url"
    validate_http_url("")  # blank is the field's business


@pytest.mark.django_db
def test_the_lead_page_links_only_http_recordings_and_certificates(admin_client, workspace):
    lead = LeadFactory(workspace=workspace, consent_url="javascript:alert(2)")
    lead_events_record(
        events=[
            EventSpec(
                lead_id=lead.pk,
                kind=LeadEvent.Kind.CALLED,
                message="Call ended",
                data={"recording_url": "javascript:alert(document.cookie)"},
                at=datetime(2026, 1, 2, tzinfo=UTC),
            ),
            EventSpec(
                lead_id=lead.pk,
                kind=LeadEvent.Kind.CALLED,
                message="Call ended",
                data={"recording_url": "https://rec.example/2.mp3"},
                at=datetime(2026, 1, 1, tzinfo=UTC),
            ),
        ]
    )
    html = admin_client.get(f"/leads/{lead.pk}/").content.decode()
    assert "javascript:" not in html
    assert 'href="https://rec.example/2.mp3"' in html
    assert "recording (not an http link)" in html
    assert "certificate</a>" not in html
