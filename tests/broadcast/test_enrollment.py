import datetime as dt

import pytest
from django.utils import timezone

from broadcast import services
from broadcast.models import Enrollment, Message
from core.errors import ApplicationError
from leads.models import Lead, LeadEvent
from leads.services import suppression_add
from tests.broadcast.fixtures import dispatch_until, make_device, make_sequence
from tests.routing.factories import make_leads


def test_enrolling_writes_one_enrollment_and_one_message_per_lead_not_per_step(workspace, device):
    sequence = make_sequence(workspace, "one {first_name}", "two", "three", delays=(0, 60, 60))
    ids = make_leads(workspace, 50, first_name="Ann")
    result = services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    assert result.created == 50
    assert Enrollment.objects.filter(status="active").count() == 50
    assert Message.objects.count() == 50  # lazy: not 150
    assert set(Message.objects.values_list("step", "status", "body").distinct()) == {
        (1, "pending", "one Ann")
    }
    assert LeadEvent.objects.filter(kind="enrolled", lead_id__in=ids).count() == 50


def test_enrolling_is_idempotent(workspace, device):
    sequence = make_sequence(workspace)
    ids = make_leads(workspace, 5)
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    again = services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    assert again.created == 0 and again.skipped["already_enrolled"] == 5
    assert Message.objects.count() == 5


def test_suppressed_stopped_and_phoneless_leads_are_skipped(workspace, device):
    sequence = make_sequence(workspace)
    ok, suppressed, sold = make_leads(workspace, 3)
    suppression_add(
        kind="phone", value=Lead.objects.get(pk=suppressed).phone, workspace_id=workspace.pk
    )
    Lead.objects.filter(pk=sold).update(status=Lead.Status.SALE)
    no_phone = make_leads(workspace, 1, email="x@example.com")[0]
    Lead.objects.filter(pk=no_phone).update(phone="")
    result = services.enrollment_create_many(
        lead_ids=[ok, suppressed, sold, no_phone, 999999], sequence_id=sequence.pk
    )
    assert result.created == 1
    assert dict(result.skipped) == {
        "suppressed": 1,
        "stop_status": 1,
        "no_phone": 1,
        "not_found": 1,
    }


def test_first_sends_are_staggered_over_each_devices_capacity(workspace, gateway):
    devices = [
        make_device(workspace, gateway, n, min_interval_seconds=10, max_interval_seconds=20)
        for n in (1, 2, 3)
    ]
    sequence = make_sequence(workspace)
    now = timezone.now()
    ids = make_leads(workspace, 30)
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk, now=now)
    per_device = {}
    for device_id, at in Message.objects.values_list("device_id", "scheduled_at"):
        per_device.setdefault(device_id, []).append(at)
    assert sorted(per_device) == sorted(d.pk for d in devices)
    for times in per_device.values():
        assert len(times) == 10  # balanced
        times.sort()
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= 15  # the mean of 10-20 s: nothing stampedes at minute zero
        assert times[0] == now


def test_first_send_lands_inside_the_recipients_window(workspace, device):
    sequence = make_sequence(workspace, window_start=dt.time(9), window_end=dt.time(21))
    ids = make_leads(workspace, 1, timezone="Asia/Tokyo")
    # 14:00 UTC is 23:00 in Tokyo: the first message waits for 09:00 Tokyo (00:00 UTC).
    now = dt.datetime(2026, 12, 2, 14, 0, tzinfo=dt.UTC)
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk, now=now)
    message = Message.objects.get()
    assert message.scheduled_at == dt.datetime(2026, 12, 3, 0, 0, tzinfo=dt.UTC)
    assert Enrollment.objects.get().timezone == "Asia/Tokyo"


def test_enrollment_errors_are_clear(workspace, gateway):
    sequence = make_sequence(workspace)
    with pytest.raises(ApplicationError, match="no active device"):
        services.enrollment_create_many(lead_ids=[1], sequence_id=sequence.pk)
    make_device(workspace, gateway)
    sequence.steps.all().delete()
    with pytest.raises(ApplicationError, match="no steps"):
        services.enrollment_create_many(lead_ids=[1], sequence_id=sequence.pk)


def test_the_device_is_sticky_for_the_whole_sequence(workspace, gateway, settings):
    a, b = make_device(workspace, gateway, 1), make_device(workspace, gateway, 2)
    sequence = make_sequence(workspace, "one", "two", "three")
    ids = make_leads(workspace, 4)
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    dispatch_until(lambda: Message.objects.filter(status="sent").count() == 12, concurrency=4)
    for enrollment in Enrollment.objects.all():
        assert set(enrollment.messages.values_list("device_id", flat=True)) == {
            enrollment.device_id
        }
    assert {e.device_id for e in Enrollment.objects.all()} == {a.pk, b.pk}


def test_batches_inside_one_outer_transaction_do_not_mix(workspace, device):
    from django.db import transaction

    first, second = make_sequence(workspace), make_sequence(workspace, name="Second")
    ids = make_leads(workspace, 6)
    with transaction.atomic():
        services.enrollment_create_many(lead_ids=ids[:4], sequence_id=first.pk, batch_size=2)
        services.enrollment_create_many(lead_ids=ids[4:], sequence_id=second.pk)
    assert sorted(first.enrollments.values_list("lead_id", flat=True)) == ids[:4]
    assert sorted(second.enrollments.values_list("lead_id", flat=True)) == ids[4:]
    assert Message.objects.count() == 6


def test_archiving_keeps_a_month_that_still_has_messages_to_send(workspace, device):
    from core.partitions import partition_archive, partition_ensure

    sequence = make_sequence(workspace, "one")
    [waiting, done] = make_leads(workspace, 2)
    services.enrollment_create_many(lead_ids=[waiting, done], sequence_id=sequence.pk)
    partition_ensure(Message, start=dt.date(2020, 3, 1), months=2)
    old = dt.datetime(2020, 3, 5, tzinfo=dt.UTC)
    Message.objects.filter(lead_id=waiting).update(scheduled_at=old)  # a paused device's
    Message.objects.filter(lead_id=done).update(
        scheduled_at=old + dt.timedelta(days=31), status="sent"
    )
    cutoff = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    assert partition_archive(Message, older_than=cutoff) == ["broadcast_message_p202004"]
    assert Message.objects.filter(lead_id=waiting, status="pending").exists()  # still live
    assert not Message.objects.filter(lead_id=done).exists()  # moved to the archive schema


def test_the_enroll_task_runs_as_a_function_and_is_idempotent(workspace, device):
    from broadcast.tasks import enroll_task

    sequence = make_sequence(workspace)
    ids = make_leads(workspace, 3)
    assert enroll_task(ids, sequence.pk, "user:admin") == {"created": 3, "skipped": {}, "queued": 0}
    again = enroll_task(ids, sequence.pk)
    assert again == {"created": 0, "skipped": {"already_enrolled": 3}, "queued": 0}


def test_each_enrollment_is_recorded_in_the_leads_history(workspace, device):
    sequence = make_sequence(workspace, name="Solar drip")
    ids = make_leads(workspace, 3)
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk, actor="user:ann")
    for enrollment in Enrollment.objects.all():
        event = LeadEvent.objects.get(lead_id=enrollment.lead_id, kind="enrolled")
        assert event.message == "Enrolled in sequence Solar drip"
        assert event.actor == "user:ann"
        assert event.created_at == enrollment.created_at  # the same transaction's time
        assert event.data == {
            "sequence_id": sequence.pk,
            "enrollment_id": enrollment.pk,
            "device_id": device.pk,
        }
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)  # idempotent
    assert LeadEvent.objects.filter(kind="enrolled").count() == 3
    other = make_leads(workspace, 1)
    services.enrollment_create_many(lead_ids=other, sequence_id=sequence.pk)
    assert LeadEvent.objects.get(lead_id=other[0], kind="enrolled").actor == "broadcast"
