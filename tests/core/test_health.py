import hmac
import threading
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from core import selectors
from simulators.http import closed_port
from tests.conftest import METRICS_TOKEN
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


@pytest.fixture
def counted_probe(monkeypatch):
    """A queue probe that counts how often the probes ran."""
    calls = []

    def probe():
        calls.append(1)
        return 7

    monkeypatch.setitem(selectors.QUEUE_PROBES, "counted", probe)
    return calls


def test_grade_bands():
    assert selectors.grade(1, (10, 20)) == "green"
    assert selectors.grade(10, (10, 20)) == "yellow"
    assert selectors.grade(20, (10, 20)) == "yellow"
    assert selectors.grade(21, (10, 20)) == "red"


@pytest.mark.parametrize(("leads", "colour"), [(1, "green"), (4, "yellow"), (6, "red")])
def test_leads_per_day_drives_the_colour(metrics_client, thresholds, workspace, leads, colour):
    LeadFactory.create_batch(leads, workspace=workspace)
    response = metrics_client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["metrics"]["leads_per_day"] == {
        "value": leads,
        "status": colour,
        "thresholds": [3, 5],
    }
    assert body["status"] == colour
    assert body["dependencies"] == {"database": True, "redis": True}


def test_queue_probes_are_graded(metrics_client, thresholds, monkeypatch):
    monkeypatch.setitem(selectors.QUEUE_PROBES, "fake", lambda: 6000)
    body = metrics_client.get("/health").json()
    assert body["metrics"]["queue_fake"]["status"] == "red"
    assert body["status"] == "red"


def test_redis_down_is_503(metrics_client, thresholds, monkeypatch):
    monkeypatch.setattr(selectors, "redis_ok", lambda: False)
    response = metrics_client.get("/health")
    assert response.status_code == 503
    assert response.json()["dependencies_down"] == ["redis"]


def test_metrics_exports_domain_gauges(metrics_client, workspace, monkeypatch):
    monkeypatch.setitem(selectors.QUEUE_PROBES, "fake", lambda: 7)
    LeadFactory.create_batch(2, workspace=workspace)
    text = metrics_client.get("/metrics").content.decode()
    assert 'leadbrain_queue_depth{queue="fake"} 7.0' in text
    assert "leadbrain_leads_per_day 2.0" in text
    assert "django_http_requests_total_by_method" in text


# --- who sees what ------------------------------------------------------------------------


def test_anonymous_health_is_liveness_only_and_runs_no_probe(client, settings, counted_probe):
    settings.METRICS_TOKEN = METRICS_TOKEN
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert client.get("/health/").json() == {"status": "ok"}
    assert counted_probe == []


def test_anonymous_liveness_says_down_with_503(client, monkeypatch):
    monkeypatch.setattr(selectors, "database_ok", lambda: False)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "down"}


def test_metrics_needs_the_token_or_an_allowed_address(client, settings, counted_probe):
    settings.METRICS_TOKEN = METRICS_TOKEN
    assert client.get("/metrics").status_code == 401
    assert counted_probe == []
    bearer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert bearer.status_code == 200
    assert 'leadbrain_queue_depth{queue="counted"} 7.0' in bearer.content.decode()
    assert client.get("/metrics", {"token": METRICS_TOKEN}).status_code == 200


def test_a_wrong_token_is_401_on_both(client, settings, counted_probe):
    settings.METRICS_TOKEN = METRICS_TOKEN
    for path in ("/health", "/metrics"):
        response = client.get(path, HTTP_AUTHORIZATION="Bearer nope")
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["code"] == "not_authenticated"
        assert client.get(path, {"token": METRICS_TOKEN[:-1]}).status_code == 401
    assert counted_probe == []


def test_no_token_configured_means_no_token_opens_it(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/metrics", {"token": ""}).status_code == 401


def test_the_token_is_compared_in_constant_time(client, settings, monkeypatch):
    settings.METRICS_TOKEN = METRICS_TOKEN
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess")
    assert compared == [(b"guess", METRICS_TOKEN.encode())]


@pytest.mark.parametrize(
    ("allowed", "remote", "status"),
    [
        (["10.1.0.0/16"], "10.1.2.3", 200),
        (["10.1.0.0/16", "2001:db8::/32"], "2001:db8::7", 200),
        (["10.1.0.0/16"], "10.2.0.1", 401),
        ([], "127.0.0.1", 401),
    ],
)
def test_the_ip_allow_list(client, settings, allowed, remote, status):
    settings.METRICS_ALLOWED_IPS = allowed
    assert client.get("/metrics", REMOTE_ADDR=remote).status_code == status
    health = client.get("/health", REMOTE_ADDR=remote).json()
    assert ("metrics" in health) == (status == 200)


def test_a_forwarded_header_does_not_pass_the_allow_list(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert response.status_code == 401


# --- probes cached ------------------------------------------------------------------------


def test_probes_run_once_per_window_for_health_and_metrics(metrics_client, counted_probe):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        metrics_client.get("/health")
        metrics_client.get("/metrics")
        metrics_client.get("/health")
        assert counted_probe == [1]
        clock.shift(timedelta(seconds=19))
        metrics_client.get("/metrics")
        assert counted_probe == [1]
        clock.shift(timedelta(seconds=2))  # past PROBE_CACHE_SECONDS (20)
        body = metrics_client.get("/health").json()
        assert counted_probe == [1, 1]
        assert body["metrics"]["queue_counted"]["value"] == 7


@pytest.mark.django_db(transaction=True)
def test_concurrent_callers_share_one_computation(monkeypatch):
    calls = []
    monkeypatch.setitem(selectors.QUEUE_PROBES, "counted", lambda: calls.append(1) or 3)
    barrier = threading.Barrier(6)
    results, errors = [], []

    def call():
        from django.db import connection

        try:
            barrier.wait()
            results.append(selectors.probe_snapshot()["queues"]["counted"])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [3] * 6
    assert calls == [1]


def test_health_answers_when_the_cache_is_down(metrics_client, settings, counted_probe):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    response = metrics_client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["dependencies_down"] == ["redis"]
    assert body["metrics"]["queue_counted"]["value"] == 7
    assert metrics_client.get("/metrics").status_code == 200
