import pytest

from core import selectors
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def thresholds(settings):
    settings.HEALTH_THRESHOLDS = {
        **settings.HEALTH_THRESHOLDS,
        "leads_per_day": (3, 5),
        "database_bytes": (10**15, 10**16),
    }
    return settings


def test_grade_bands():
    assert selectors.grade(1, (10, 20)) == "green"
    assert selectors.grade(10, (10, 20)) == "yellow"
    assert selectors.grade(20, (10, 20)) == "yellow"
    assert selectors.grade(21, (10, 20)) == "red"


@pytest.mark.parametrize(("leads", "colour"), [(1, "green"), (4, "yellow"), (6, "red")])
def test_leads_per_day_drives_the_colour(client, thresholds, workspace, leads, colour):
    LeadFactory.create_batch(leads, workspace=workspace)
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["metrics"]["leads_per_day"] == {
        "value": leads,
        "status": colour,
        "thresholds": [3, 5],
    }
    assert body["status"] == colour
    assert body["dependencies"] == {"database": True, "redis": True}


def test_queue_probes_are_graded(client, thresholds, monkeypatch):
    monkeypatch.setitem(selectors.QUEUE_PROBES, "fake", lambda: 6000)
    body = client.get("/health").json()
    assert body["metrics"]["queue_fake"]["status"] == "red"
    assert body["status"] == "red"


def test_redis_down_is_503(client, thresholds, monkeypatch):
    monkeypatch.setattr(selectors, "redis_ok", lambda: False)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["dependencies_down"] == ["redis"]


def test_metrics_exports_domain_gauges(client, workspace, monkeypatch):
    monkeypatch.setitem(selectors.QUEUE_PROBES, "fake", lambda: 7)
    LeadFactory.create_batch(2, workspace=workspace)
    text = client.get("/metrics").content.decode()
    assert 'leadbrain_queue_depth{queue="fake"} 7.0' in text
    assert "leadbrain_leads_per_day 2.0" in text
    assert "django_http_requests_total_by_method" in text
