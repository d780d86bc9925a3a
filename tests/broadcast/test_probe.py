"""Auto-resume: a device paused for transient gateway failures is probed with backoff and
resumes when the gateway answers; bans, logged-out sessions and a person's pause wait."""

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone
from prometheus_client import REGISTRY

from broadcast import services
from broadcast.models import Device, Enrollment, EnrollmentRequest, Message
from tests.broadcast.fixtures import dispatch_until, make_sequence
from tests.routing.factories import make_leads, make_rule


def alerts(direction: str) -> float:
    value = REGISTRY.get_sample_value(
        "leadbrain_broadcast_device_alerts_total", {"direction": direction}
    )
    return value or 0.0


def paused_for_failures(device, *, attempts: int = 0) -> Device:
    Device.objects.filter(pk=device.pk).update(
        status="paused",
        status_reason="paused after 5 failed sends: gateway HTTP 503",
        consecutive_failures=5,
        probe_at=timezone.now(),
        probe_attempts=attempts,
    )
    device.refresh_from_db()
    return device


@pytest.fixture
def fast(settings):
    settings.BROADCAST_DEVICE_MAX_FAILURES = 2
    settings.BROADCAST_RETRY_BASE_SECONDS = 0.01
    settings.BROADCAST_PROBE_BASE_SECONDS = 10.0
    return settings


def test_failed_sends_pause_the_device_and_a_probe_resumes_it(
    workspace, device, gateway, fast, caplog
):
    sequence = make_sequence(workspace)
    services.enrollment_create_many(lead_ids=make_leads(workspace, 2), sequence_id=sequence.pk)
    gateway.fail_next(2, status=503)
    down, up = alerts("down"), alerts("up")
    with caplog.at_level("WARNING", logger="leadbrain.alerts"):
        dispatch_until(lambda: Device.objects.get(pk=device.pk).status == "paused")
        device.refresh_from_db()
        # Probed about BROADCAST_PROBE_BASE_SECONDS later (jittered: half to all of it).
        wait = (device.probe_at - timezone.now()).total_seconds()
        assert 2 <= wait <= 10 and device.probe_attempts == 0  # less the time dispatching took
        assert services.devices_probe().probed == 0  # not yet
        run = services.devices_probe(now=device.probe_at)
    assert run.resumed == [device.pk]
    device.refresh_from_db()
    assert (device.status, device.consecutive_failures, device.probe_at) == ("active", 0, None)
    assert device.status_reason == "resumed automatically: the gateway answers again"
    assert alerts("down") == down + 1 and alerts("up") == up + 1  # alerted both ways
    texts = [r.getMessage() for r in caplog.records if r.name == "leadbrain.alerts"]
    assert any("paused" in t for t in texts) and any("recovered" in t for t in texts)
    assert [r.method for r in gateway.received][-1] == "GET"  # the session status, not a send
    Message.objects.update(scheduled_at=timezone.now())
    dispatch_until(lambda: Message.objects.filter(status="sent").count() == 2)


def test_a_gateway_still_down_is_probed_again_with_exponential_backoff(
    workspace, device, gateway, fast
):
    paused_for_failures(device)
    gateway.down()
    try:
        waits = []
        for attempt in (1, 2, 3):
            before = timezone.now()
            assert services.devices_probe(now=device.probe_at).as_dict()["later"] == 1
            device.refresh_from_db()
            assert (device.status, device.probe_attempts) == ("paused", attempt)
            waits.append((device.probe_at - before).total_seconds())
        # Between half and all of 10 s x 2^attempt: 10-20 s, 20-40 s, 40-80 s (plus the
        # time the probe itself took).
        for n, wait in enumerate(waits, start=1):
            assert 10 * 2 ** (n - 1) <= wait <= 10 * 2**n + 2, waits
        assert "gateway unreachable: ConnectionError talking to 127.0.0.1" in device.last_error
        assert "gw-token" not in device.last_error
    finally:
        gateway.up()
    assert services.devices_probe(now=device.probe_at).resumed == [device.pk]


def test_backoff_stops_at_the_maximum(workspace, device, gateway, fast):
    fast.BROADCAST_PROBE_MAX_SECONDS = 30
    paused_for_failures(device, attempts=12)
    gateway.fail_next(1, status=502)
    before = timezone.now()
    services.devices_probe(now=device.probe_at)
    device.refresh_from_db()
    assert 15 <= (device.probe_at - before).total_seconds() <= 30 + 2


@pytest.mark.parametrize(("action", "status"), [("ban", "banned"), ("disconnect", "disconnected")])
def test_a_probe_that_finds_a_ban_or_a_logged_out_session_leaves_it_to_a_person(
    workspace, device, gateway, fast, action, status
):
    paused_for_failures(device)
    getattr(gateway, action)(device.gateway_session)
    down = alerts("down")
    run = services.devices_probe(now=device.probe_at)
    assert run.as_dict() == {"probed": 1, "resumed": 0, "down": 1, "later": 0}
    device.refresh_from_db()
    assert (device.status, device.probe_at) == (status, None)
    assert alerts("down") == down + 1
    assert services.devices_probe(now=timezone.now() + timedelta(days=1)).probed == 0


def test_a_device_paused_by_a_person_is_never_resumed_by_a_probe(
    admin_client, workspace, device, gateway, fast
):
    paused_for_failures(device)
    admin_client.post(
        "/admin/broadcast/device/", {"action": "pause", ACTION_CHECKBOX_NAME: [device.pk]}
    )
    device.refresh_from_db()
    assert (device.status, device.probe_at) == ("paused", None)
    assert services.devices_probe(now=timezone.now() + timedelta(days=1)).probed == 0
    assert gateway.received == []


def test_a_person_who_pauses_a_device_while_it_is_probed_wins(workspace, device, gateway, fast):
    from broadcast.services import probe

    paused_for_failures(device)
    assert probe._claim(10, timezone.now()) == [device]  # a prober took it...
    services.devices_set_status(device_ids=[device.pk], status="paused", reason="by Ann")
    probe._write(probe.ProbeRun(probed=1, resumed=[device.pk]))  # ...and its gateway answered
    device.refresh_from_db()
    assert (device.status, device.status_reason) == ("paused", "by Ann")


def test_an_outage_delays_routed_leads_but_loses_none(
    workspace, gateway, fast, eager, django_capture_on_commit_callbacks
):
    """Issue 12's fault: a gateway outage pauses every device of the destination's
    sequence while leads are routed; when the gateway is back the devices resume by
    themselves and every routed lead gets its message."""
    from leads.models import Lead
    from routing import services as routing_services
    from tests.broadcast.fixtures import make_device

    devices = [make_device(workspace, gateway, n) for n in (1, 2)]
    sequence = make_sequence(workspace, "Hi {first_name}")
    make_rule("drip", destinations=[{"workspace": workspace, "sequence": sequence}])
    early = make_leads(workspace, 4, first_name="Early")
    routing_services.route_pending(worker_id="w1")
    gateway.down()
    dispatch_until(lambda: not Device.objects.filter(status="active").exists())
    late = make_leads(workspace, 5, first_name="Late")
    with django_capture_on_commit_callbacks(execute=True):
        routing_services.route_pending(worker_id="w1")
    assert EnrollmentRequest.objects.get().lead_count == 5  # kept, not dropped
    gateway.up()
    with django_capture_on_commit_callbacks(execute=True):  # the woken worker runs eagerly
        run = services.devices_probe(now=timezone.now() + timedelta(minutes=5))
    assert sorted(run.resumed) == sorted(d.pk for d in devices)
    assert EnrollmentRequest.objects.get().status == "done"
    assert Enrollment.objects.count() == 9
    Message.objects.filter(status="pending").update(scheduled_at=timezone.now())
    dispatch_until(lambda: Message.objects.filter(status="sent").count() == 9)
    reached = {s.chat_id for s in gateway.sent}
    phones = Lead.objects.filter(pk__in=early + late).values_list("phone", flat=True)
    assert reached == {p[1:] + "@c.us" for p in phones}
