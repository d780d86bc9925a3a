"""The lead list, detail and history APIs: the query count does not grow with the rows."""

import pytest

from leads.models import LeadEvent
from leads.services import EventSpec, lead_events_record
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("leads", [3, 30])
def test_lead_list_queries_do_not_grow_with_leads(
    api_client, workspace, leads, django_assert_max_num_queries
):
    make_leads(workspace, leads)
    # the key (with its workspace) and its last use, one page of leads with their workspaces
    with django_assert_max_num_queries(3):
        response = api_client.get("/api/v1/leads/")
    assert response.status_code == 200 and len(response.json()["results"]) == leads


@pytest.mark.parametrize("leads", [3, 30])
def test_lead_detail_queries_do_not_grow_with_leads(
    api_client, workspace, leads, django_assert_max_num_queries
):
    ids = make_leads(workspace, leads)
    # the key and its last use, the lead with its workspaces
    with django_assert_max_num_queries(3):
        response = api_client.get(f"/api/v1/leads/{ids[-1]}/")
    assert response.status_code == 200 and response.json()["id"] == ids[-1]


@pytest.mark.parametrize("events", [3, 30])
def test_lead_history_queries_do_not_grow_with_events(
    api_client, workspace, events, django_assert_max_num_queries
):
    [lead_id] = make_leads(workspace, 1)
    lead_events_record(
        events=[
            EventSpec(lead_id=lead_id, kind=LeadEvent.Kind.UPDATED, message=f"change {n}")
            for n in range(events)
        ]
    )
    # the key and its last use, the lead, its live events, the archived partitions to read
    with django_assert_max_num_queries(5):
        response = api_client.get(f"/api/v1/leads/{lead_id}/history/")
    assert response.status_code == 200
    assert len(response.json()) == events + 1  # and the "created" event of intake
