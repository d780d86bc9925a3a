import datetime as dt
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from broadcast import services
from broadcast.models import Device, Enrollment, Message
from leads.models import Lead, LeadEvent
from leads.services import suppression_add
from tests.broadcast.fixtures import dispatch_until, make_device, make_sequence
from tests.routing.factories import make_leads


def enroll(workspace, n, *templates, delays=(), **lead_fields):
    sequence = make_sequence(workspace, *templates, delays=delays)
    ids = make_leads(workspace, n, **lead_fields)
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    return sequence, ids


def test_a_sent_message_writes_its_successor_and_the_last_one_completes(workspace, device, gateway):
    enroll(
        workspace,
        1,
        "Hi {first_name}",
        "Still there {first_name}?",
        delays=(0, 30),
        first_name="Ann",
    )
    stats = services.dispatch_run(seconds=0.5, concurrency=2)
    assert stats.sent == 1
    first = Message.objects.get(step=1)
    assert first.status == "sent" and first.gateway_id == gateway.sent[0].message_id
    second = Message.objects.get(step=2)  # written only now, when the first was sent
    assert second.status == "pending" and second.body == "Still there Ann?"
    assert second.scheduled_at == first.sent_at + timedelta(minutes=30)
    assert Enrollment.objects.get().current_step == 2
    assert gateway.sent[0].chat_id.endswith("@c.us") and gateway.sent[0].text == "Hi Ann"
    # Not due yet: nothing more goes out.
    assert services.dispatch_run(seconds=0.3).sent == 0
    Message.objects.filter(pk=second.pk).update(scheduled_at=timezone.now())
    assert services.dispatch_run(seconds=0.5).sent == 1
    assert Enrollment.objects.get().status == "completed"
    assert Message.objects.filter(status="pending").count() == 0
    assert LeadEvent.objects.filter(kind="message_sent").count() == 2
    assert LeadEvent.objects.filter(kind="enrollment_completed").count() == 1


def sent_gaps(device_id):
    times = list(
        Message.objects.filter(device_id=device_id, sent_at__isnull=False)
        .order_by("sent_at")
        .values_list("sent_at", flat=True)
    )
    return [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]


@pytest.mark.django_db(transaction=True)
def test_pacing_holds_across_concurrent_dispatchers(workspace, gateway):
    devices = [
        make_device(workspace, gateway, n, min_interval_seconds=0.3, max_interval_seconds=0.4)
        for n in (1, 2)
    ]
    enroll(workspace, 20, "one", "two")
    barrier = threading.Barrier(3)
    results, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=10)
            results.append(services.dispatch_run(seconds=2.5, concurrency=8, lookahead=0.5))
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    total = sum(r.sent for r in results)
    assert total >= 4  # 2 devices x ~2.5 s / 0.35 s at best; the pacing is what matters
    assert sum(1 for r in results if r.sent) >= 1
    for device in devices:
        gaps = sent_gaps(device.pk)
        assert gaps and min(gaps) >= 0.3, gaps  # never closer than the minimum interval
        arrivals = [s.at for s in gateway.sends_by_session()[device.gateway_session]]
        assert min(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)) >= 0.3
    assert Message.objects.filter(status="sending").count() == 0


def test_two_claims_never_get_the_same_device(workspace, gateway, django_db_blocker):
    for n in range(1, 5):
        make_device(workspace, gateway, n)
    enroll(workspace, 8, "one")
    first = services.dispatch_claim(limit=3)
    second = services.dispatch_claim(limit=3)
    assert len(first) == 3 and len(second) == 1  # one device left, leased ones are skipped
    assert not {c.device["id"] for c in first} & {c.device["id"] for c in second}
    assert Message.objects.filter(status="sending").count() == 4


def test_daily_cap_and_warm_up(workspace, gateway):
    device = make_device(
        workspace, gateway, daily_cap=2, min_interval_seconds=0.05, max_interval_seconds=0.05
    )
    enroll(workspace, 5, "one")
    # Enrollment already spread them over the cap (two a day); make all five due now.
    assert Message.objects.filter(scheduled_at__gt=timezone.now() + timedelta(hours=20)).count()
    Message.objects.update(scheduled_at=timezone.now())
    assert services.dispatch_run(seconds=1.0).sent == 2
    device.refresh_from_db()
    assert device.sent_today == 2
    assert device.next_send_at >= dt.datetime.combine(
        timezone.now().date() + timedelta(days=1), dt.time(), tzinfo=dt.UTC
    )
    assert Message.objects.filter(status="pending").count() == 3
    warm = Device(daily_cap=100, warmup_days=10, active_since=dt.date(2026, 12, 1))
    assert [warm.cap_for(dt.date(2026, 12, d)) for d in (1, 2, 5, 10, 20)] == [10, 20, 50, 100, 100]


def test_nothing_is_sent_outside_the_recipients_window(workspace, device, gateway):
    sequence, ids = enroll(workspace, 1, "hello")
    now_local = timezone.now().astimezone(dt.UTC)
    # A two-hour window that starts four hours from now (UTC lead): the due message waits.
    start = (now_local + timedelta(hours=4)).time().replace(microsecond=0)
    end = (now_local + timedelta(hours=6)).time().replace(microsecond=0)
    sequence.window_start, sequence.window_end = start, end
    sequence.save()
    Enrollment.objects.update(timezone="UTC")
    stats = services.dispatch_run(seconds=0.4)
    assert stats.sent == 0 and stats.rescheduled == 1 and gateway.sent == []
    message = Message.objects.get()
    assert message.status == "pending"
    assert message.scheduled_at.astimezone(dt.UTC).time().replace(microsecond=0) == start


def test_consent_is_checked_again_at_send_time(workspace, device, gateway):
    _, (opted, sold, fine) = enroll(workspace, 3, "hello", "again", delays=(0, 60))
    suppression_add(kind="phone", value=Lead.objects.get(pk=opted).phone)  # global DNC
    Lead.objects.filter(pk=sold).update(status=Lead.Status.SALE)
    stats = services.dispatch_run(seconds=0.8)
    assert stats.sent == 1
    assert [s.chat_id for s in gateway.sent] == [Lead.objects.get(pk=fine).phone[1:] + "@c.us"]
    stopped = Enrollment.objects.filter(status="stopped")
    assert set(stopped.values_list("lead_id", flat=True)) == {opted, sold}
    assert Message.objects.filter(lead_id__in=[opted, sold], status="cancelled").count() == 2
    assert LeadEvent.objects.filter(kind="enrollment_stopped", lead_id=sold).exists()


def test_stopping_an_enrollment_cancels_its_pending_message(workspace, device, gateway):
    enroll(workspace, 1, "hello")
    enrollment = Enrollment.objects.get()
    assert services.enrollment_stop(enrollment_id=enrollment.pk, reason="agent said so") == 1
    assert services.dispatch_run(seconds=0.3).sent == 0
    assert Message.objects.get().status == "cancelled"
    enrollment.refresh_from_db()
    assert (enrollment.status, enrollment.reason) == ("stopped", "agent said so")


def test_gateway_errors_retry_later_then_pause_the_device(workspace, device, gateway, settings):
    settings.BROADCAST_DEVICE_MAX_FAILURES = 3
    enroll(workspace, 3, "hello")
    gateway.fail_next(3, status=503)
    stats = dispatch_until(lambda: Device.objects.get(pk=device.pk).status == "paused")
    assert stats.sent == 0 and stats.retried == 3
    device.refresh_from_db()
    assert device.status == "paused" and "3 failed sends" in device.status_reason
    retried = Message.objects.filter(status="pending")
    assert retried.count() == 3
    assert all(m.attempts == 1 and m.scheduled_at > timezone.now() for m in retried)
    services.device_set_status(device=device, status="active")
    Message.objects.update(scheduled_at=timezone.now())
    sent = Message.objects.filter(status="sent")
    assert dispatch_until(lambda: sent.count() == 3).sent == 3


def test_a_rejected_number_fails_its_enrollment_only(workspace, device, gateway):
    _, (bad, good) = enroll(workspace, 2, "hello")
    gateway.invalid.add(Lead.objects.get(pk=bad).phone[1:] + "@c.us")
    stats = dispatch_until(lambda: not Message.objects.filter(status="pending").exists())
    assert (stats.sent, stats.failed) == (1, 1)
    assert Enrollment.objects.get(lead_id=bad).status == "failed"
    assert Message.objects.get(lead_id=bad).status == "failed"
    event = LeadEvent.objects.get(lead_id=bad, kind="enrollment_stopped")
    assert event.message.startswith("Sequence failed: ") and "WhatsApp" in event.message
    device.refresh_from_db()
    assert device.status == "active" and device.consecutive_failures == 0


@pytest.mark.parametrize(("action", "status"), [("ban", "banned"), ("disconnect", "disconnected")])
def test_a_banned_or_logged_out_session_stops_the_device(
    workspace, device, gateway, action, status
):
    enroll(workspace, 2, "hello")
    getattr(gateway, action)(device.gateway_session)
    stats = services.dispatch_run(seconds=0.6)
    device.refresh_from_db()
    assert device.status == status and stats.sent == 0
    assert gateway.requests == 1  # it stopped at the first refusal
    assert Message.objects.filter(status="pending").count() == 2  # kept for later


def test_a_timeout_is_retried(workspace, device, gateway, settings):
    settings.BROADCAST_GATEWAY_TIMEOUT = 0.2
    gateway.latency = 0.5
    enroll(workspace, 1, "hello")
    stats = services.dispatch_run(seconds=0.5)
    assert stats.retried == 1
    message = Message.objects.get()
    assert message.status == "pending" and "timed out" in message.error


def test_a_dead_dispatchers_lease_is_recovered(workspace, device, gateway):
    enroll(workspace, 1, "hello")
    claims = services.dispatch_claim(limit=10)
    assert len(claims) == 1 and Message.objects.get().status == "sending"
    later = timezone.now() + timedelta(seconds=600)
    assert services.dispatch_recover(now=later) == 1
    device.refresh_from_db()
    assert device.lease_until is None
    assert device.next_send_at >= timezone.now() + timedelta(seconds=119)  # lease + interval
    assert Message.objects.get().status == "pending"
    Device.objects.filter(pk=device.pk).update(next_send_at=timezone.now())
    assert services.dispatch_run(seconds=0.5).sent == 1


def test_an_idle_dispatcher_frees_its_worker_early(workspace, device, settings):
    settings.BROADCAST_IDLE_EXIT_SECONDS = 0.3
    started = timezone.now()
    stats = services.dispatch_run(seconds=30)
    assert stats.claimed == 0
    assert (timezone.now() - started).total_seconds() < 5


@pytest.mark.django_db(transaction=True)
def test_an_opt_out_while_a_claim_waits_for_its_turn_stops_the_send(workspace, gateway):
    device = make_device(workspace, gateway)
    _, [lead_id] = enroll(workspace, 1, "hello")
    Device.objects.filter(pk=device.pk).update(next_send_at=timezone.now() + timedelta(seconds=1.2))
    results = []

    def run():
        try:
            results.append(services.dispatch_run(seconds=2.5, lookahead=2.0))
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 10
    while not Message.objects.filter(status="sending").exists():  # claimed, waiting its turn
        assert time.monotonic() < deadline, "never claimed"
        time.sleep(0.01)
    suppression_add(kind="phone", value=Lead.objects.get(pk=lead_id).phone, reason="STOP by SMS")
    worker.join(timeout=30)
    assert gateway.sent == []
    assert Message.objects.get().status == "cancelled"
    assert Enrollment.objects.get().status == "stopped"
    device.refresh_from_db()
    assert device.lease_until is None
    assert results[0].sent == 0 and results[0].skipped == 1


@pytest.mark.django_db(transaction=True)
def test_a_killed_database_connection_does_not_stop_the_dispatcher(workspace, gateway, caplog):
    devices = [
        make_device(workspace, gateway, n, min_interval_seconds=0.2, max_interval_seconds=0.25)
        for n in (1, 2)
    ]
    enroll(workspace, 16, "one")
    started, stop = threading.Event(), threading.Event()
    backend, results, errors = [], [], []

    def run():
        try:
            with connection.cursor() as cursor:  # the connection dispatch_run will use
                cursor.execute("SELECT pg_backend_pid()")
                backend.append(cursor.fetchone()[0])
            started.set()
            results.append(services.dispatch_run(seconds=60, concurrency=4, stop_event=stop))
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert started.wait(timeout=10)
        assert gateway.wait_for_sends(3, timeout=15), "the dispatcher never got going"
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", backend)
            assert cursor.fetchone()[0] is True
        killed_at, sent_before = time.time(), len(gateway.sent)
        assert sent_before < 16
        # Far below the 120 s lease: every device sends again within seconds.
        assert gateway.wait_for_sends(sent_before + 4, timeout=10), "sending stopped"
        assert gateway.wait_for_sends(16, timeout=30), f"only {len(gateway.sent)} of 16 sent"
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not errors and results and results[0].sent == 16
    assert "lost its database connection (OperationalError" in caplog.text  # it was cut off
    for device in devices:
        after = [s.at for s in gateway.sends_by_session()[device.gateway_session]]
        assert any(at > killed_at for at in after)
        assert min(at for at in after if at > killed_at) - killed_at < 5
    chats = [s.chat_id for s in gateway.sent]
    assert len(chats) == len(set(chats)) == 16  # nobody got a message twice
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert not Device.objects.filter(lease_until__isnull=False).exists()


def test_recording_the_same_outcomes_again_writes_nothing_twice(workspace, device, gateway):
    """A batch whose commit reached the database but whose answer was lost with the
    connection is recorded again by the reconnected dispatcher: no second successor."""
    import requests

    from broadcast.services.dispatch import dispatch_send

    enroll(workspace, 2, "one", "two", delays=(0, 60))
    claims = services.dispatch_claim(limit=10)
    assert len(claims) == 1  # one device, one send in flight
    outcome = dispatch_send(claims[0], {device.gateway_url: requests.Session()}, threading.Lock())
    services.dispatch_record([outcome])
    services.dispatch_record([outcome])
    assert Message.objects.filter(step=2).count() == 1
    assert LeadEvent.objects.filter(kind="message_sent").count() == 1
    device.refresh_from_db()
    assert device.sent_today == 1 and device.lease_until is None


def test_claims_a_dispatcher_gives_up_are_released_at_once(workspace, device):
    from broadcast.services.dispatch import dispatch_release

    enroll(workspace, 1, "one")
    claims = services.dispatch_claim(limit=10)
    dispatch_release(claims)
    message = Message.objects.get()
    assert (message.status, message.attempts) == ("pending", 0)
    device.refresh_from_db()
    assert device.lease_until is None
    assert len(services.dispatch_claim(limit=10)) == 1  # claimable again, no lease to wait out
