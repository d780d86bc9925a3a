from datetime import UTC, date, datetime

import pytest

from core.partitions import partition_archive, partition_ensure
from leads.models import Lead, LeadEvent
from leads.services import EventSpec, lead_events_record
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_pages_need_login(client):
    response = client.get("/leads/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/leads/"


def test_root_redirects_to_search(admin_client):
    assert admin_client.get("/")["Location"] == "/leads/"


def test_search_finds_by_phone_in_any_format(admin_client, workspace):
    lead = LeadFactory(workspace=workspace, phone="+12134567890")
    LeadFactory(workspace=workspace)
    response = admin_client.get("/leads/", {"q": "(213) 456-7890"})
    assert list(response.context["leads"]) == [lead]


def test_history_page_shows_fields_and_timeline_newest_first(admin_client, workspace):
    lead = LeadFactory(workspace=workspace, company="Acme", custom={"plan": "gold"})
    lead_events_record(
        events=[
            EventSpec(
                lead_id=lead.pk,
                kind=LeadEvent.Kind.CREATED,
                message="Lead received",
                at=datetime(2026, 1, 1, tzinfo=UTC),
            ),
            EventSpec(
                lead_id=lead.pk,
                kind=LeadEvent.Kind.CALLED,
                message="Call ended",
                data={
                    "agent": "agent7",
                    "talk_seconds": 42,
                    "recording_url": "http://rec.example/1.mp3",
                },
            ),
        ]
    )
    html = admin_client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Acme" in html and "gold" in html
    assert html.index("Call ended") < html.index("Lead received")
    assert "agent7" in html and 'href="http://rec.example/1.mp3"' in html


def test_archived_lead_still_opens(admin_client, workspace):
    partition_ensure(Lead, start=date(2020, 2, 1), months=1)
    partition_ensure(LeadEvent, start=date(2020, 2, 1), months=1)
    old = datetime(2020, 2, 10, tzinfo=UTC)
    lead = LeadFactory(workspace=workspace, created_at=old, first_name="Archie")
    lead_events_record(events=[EventSpec(lead_id=lead.pk, kind="created", message="Old", at=old)])
    partition_archive(Lead, older_than=datetime(2020, 4, 1, tzinfo=UTC))
    partition_archive(LeadEvent, older_than=datetime(2020, 4, 1, tzinfo=UTC))
    html = admin_client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Archie" in html and "archived" in html and "Old" in html
    assert admin_client.get("/leads/999999999/").status_code == 404
