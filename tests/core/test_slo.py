"""SLO figures on /metrics and /health, written by the real flows: routing latency, success
and lock rates, retry depth; dialer push lag and errors per server; call-URL apply lag;
broadcast send lag and pacing violations; CPU and memory per process type."""

import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from broadcast import services as broadcast_services
from broadcast.models import Device, Message
from calllogs.models import WebhookEvent
from core import procstats, slo
from dialer import services as dialer_services
from dialer.models import ViciList
from routing import selectors as routing_selectors
from routing.models import RetryItem
from routing.services import route as route_module
from routing.services.route import route_pending
from tests.broadcast.fixtures import dispatch_until, make_device, make_sequence
from tests.routing.factories import make_leads, make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def fresh(settings):
    settings.PROBE_CACHE_SECONDS = 0  # every read computes the probes again
    return settings


def health(metrics_client) -> dict:
    return metrics_client.get("/health").json()["metrics"]


def metrics(metrics_client) -> str:
    return metrics_client.get("/metrics").content.decode()


def test_routing_latency_success_and_lock_rates(metrics_client, fresh, workspace):
    make_rule(destinations=[{"workspace": workspace}])
    make_leads(workspace, 3)
    assert route_pending(worker_id="w1").routed == 3
    page = metrics(metrics_client)
    assert "leadbrain_routing_decision_latency_seconds_count 3.0" in page
    assert 'leadbrain_routing_decision_latency_seconds_bucket{le="+Inf"} 3.0' in page
    assert "leadbrain_routing_claimed_total 3.0" in page
    assert "leadbrain_routing_locked_total 3.0" in page
    assert "leadbrain_routing_success_ratio 1.0" in page
    graded = health(metrics_client)
    assert graded["routing_success_ratio"]["status"] == "green"
    assert graded["routing_lock_ratio"]["value"] == 1.0
    assert graded["routing_latency_p95_seconds"]["thresholds"] == [2.0, 5.0]
    assert 0 <= graded["routing_latency_p95_seconds"]["value"] < 2


def test_routing_failures_lower_the_success_rate_on_health(
    metrics_client, fresh, workspace, monkeypatch
):
    make_rule(destinations=[{"workspace": workspace}])
    make_leads(workspace, 19)
    assert route_pending(worker_id="w1").routed == 19
    make_leads(workspace, 1)

    def broken(*args, **kwargs):
        raise RuntimeError("rules exploded")

    monkeypatch.setattr(route_module, "_decide_reachable", broken)
    assert route_pending(worker_id="w1").failed == 1
    graded = health(metrics_client)["routing_success_ratio"]
    assert graded == {
        "value": 0.95,
        "status": "green",  # 95% is the SLO itself
        "thresholds": [0.95, 0.9],
        "lower_is_worse": True,
    }
    make_leads(workspace, 1)
    route_pending(worker_id="w1")
    assert health(metrics_client)["routing_success_ratio"]["status"] == "yellow"  # 19/21
    assert "leadbrain_routing_failed_total 2.0" in metrics(metrics_client)


def test_the_lock_rate_counts_claims_lost_before_the_decision(db):
    slo.count("routing_claimed_total", 20)
    slo.count("routing_locked_total", 18)
    assert routing_selectors.routing_lock_ratio() == 0.9


def test_the_retry_queue_is_yellow_at_100(metrics_client, fresh):
    now = timezone.now()
    RetryItem.objects.bulk_create(
        RetryItem(lead_id=i, next_retry_at=now + timedelta(hours=1)) for i in range(100)
    )
    graded = health(metrics_client)["queue_routing_retry"]
    assert graded["status"] == "yellow" and graded["thresholds"] == [100, 1000]


def test_dialer_push_lag_and_errors_per_server(metrics_client, fresh, workspace, server, vici):
    vici_list = ViciList.objects.create(server=server, list_id=1001, campaign_id="C", name="L")
    ids = make_leads(workspace, 2)
    dialer_services.outbox_enqueue_add(lead_ids=ids[:1], vici_list_id=vici_list.pk)
    assert dialer_services.outbox_drain(server_id=server.pk).sent == 1
    label = f'server="{server.pk}"'
    page = metrics(metrics_client)
    assert f"leadbrain_dialer_push_lag_seconds_count{{{label}}} 1.0" in page
    assert f"leadbrain_dialer_requests_total{{{label}}} 1.0" in page
    assert health(metrics_client)["dialer_error_ratio"]["value"] == 0.0
    vici.down()
    dialer_services.outbox_enqueue_add(lead_ids=ids[1:], vici_list_id=vici_list.pk)
    dialer_services.outbox_drain(server_id=server.pk)
    assert f"leadbrain_dialer_errors_total{{{label}}} 1.0" in metrics(metrics_client)
    graded = health(metrics_client)["dialer_error_ratio"]
    assert graded["value"] == 0.5 and graded["status"] == "red"
    assert health(metrics_client)["dialer_push_lag_p95_seconds"]["status"] == "green"


def test_call_url_apply_lag(metrics_client, fresh, server):
    event = WebhookEvent.objects.create(server=server, params={})
    WebhookEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(minutes=2)
    )
    graded = health(metrics_client)["calllogs_webhook_apply_lag_seconds"]
    assert graded["value"] >= 120 and graded["status"] == "yellow"


def test_broadcast_send_lag_and_pacing_violations(metrics_client, fresh, workspace, gateway):
    device = make_device(workspace, gateway)
    sequence = make_sequence(workspace, "hello")
    ids = make_leads(workspace, 2)
    broadcast_services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    dispatch_until(lambda: Message.objects.filter(status="sent").count() == 2, concurrency=2)
    graded = health(metrics_client)
    assert graded["broadcast_pacing_violations"] == {
        "value": 0,
        "status": "green",
        "thresholds": [1, 0],
    }
    assert graded["broadcast_send_lag_p95_seconds"]["value"] >= 0
    assert "leadbrain_broadcast_send_lag_seconds_count 2.0" in metrics(metrics_client)
    # A device row that says it sent a moment ago, but whose turn is now: the detector
    # must see the send as too close.
    lead = make_leads(workspace, 1)
    broadcast_services.enrollment_create_many(lead_ids=lead, sequence_id=sequence.pk)
    now = timezone.now()
    Device.objects.filter(pk=device.pk).update(last_sent_at=now, next_send_at=now)
    dispatch_until(lambda: Message.objects.filter(status="sent").count() == 3)
    graded = health(metrics_client)["broadcast_pacing_violations"]
    assert graded["value"] == 1 and graded["status"] == "red"
    from core.alerts.engine import alerts_evaluate
    from core.alerts.models import Alert

    assert "core.health:broadcast_pacing_violations:red" in alerts_evaluate().fired
    alert = Alert.objects.get(key="core.health:broadcast_pacing_violations:red")
    assert alert.summary == "/health red: broadcast_pacing_violations = 1 (red above 0)"


def test_process_types_cpu_and_memory(metrics_client):
    assert procstats.process_kind(["/venv/bin/gunicorn", "config.wsgi"]) == "web"
    assert procstats.process_kind(["python", "manage.py", "runserver"]) == "web"
    assert (
        procstats.process_kind(["/v/bin/celery", "-A", "config", "worker", "-Q", "x"]) == "worker"
    )
    assert procstats.process_kind(["/v/bin/celery", "-A", "config", "beat"]) == "beat"
    assert procstats.process_kind(["postgres: writer"]) is None
    fake_web = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "gunicorn"])
    try:
        deadline = time.monotonic() + 10
        while procstats.process_stats()["web"].get("processes", 0) < 1:
            assert time.monotonic() < deadline, "the process never showed up"
            time.sleep(0.1)
        page = metrics(metrics_client)
    finally:
        fake_web.kill()
        fake_web.wait()
    web = [line for line in page.splitlines() if 'resident_memory_bytes{type="web"}' in line]
    assert web and float(web[0].split()[-1]) > 0
    assert 'leadbrain_process_cpu_seconds_total{type="worker"}' in page
    assert "leadbrain_host_cpu_count" in page and "leadbrain_host_memory_total_bytes" in page
