"""Pending enrollment requests: enrollment work that waits in a table until it can happen."""

import threading

import pytest
from celery import current_app
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection

from broadcast import services
from broadcast.models import Device, Enrollment, EnrollmentRequest, Message
from broadcast.signals import enrollment_requests_waiting
from core.errors import ApplicationError
from leads.models import Lead
from leads.services import leads_mark_dnc
from tests.broadcast.fixtures import make_device, make_sequence
from tests.routing.factories import make_leads


def pause(*devices):
    Device.objects.filter(pk__in=[d.pk for d in devices]).update(status="paused")


def test_no_active_device_keeps_the_request_instead_of_dropping_it(workspace, device):
    sequence = make_sequence(workspace)
    ids = make_leads(workspace, 3)
    pause(device)
    with pytest.raises(ApplicationError, match="no active device"):  # the default still says no
        services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    result = services.enrollment_create_many(
        lead_ids=iter(ids), sequence_id=sequence.pk, actor="routing:w1", if_no_device="queue"
    )
    assert result.as_dict() == {"created": 0, "skipped": {}, "queued": 3}
    request = EnrollmentRequest.objects.get()
    assert (request.lead_ids, request.lead_count, request.reason, request.status) == (
        ids,
        3,
        "no_device",
        "pending",
    )
    assert request.actor == "routing:w1"
    assert not Enrollment.objects.exists()


def test_resuming_a_device_carries_out_what_waited_for_it(
    admin_client, workspace, device, eager, django_capture_on_commit_callbacks
):
    sequence = make_sequence(workspace, "Hi {first_name}")
    ids = make_leads(workspace, 4, first_name="Ann")
    pause(device)
    services.enrollment_create_many(
        lead_ids=ids, sequence_id=sequence.pk, actor="routing:w1", if_no_device="queue"
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        admin_client.post(
            "/admin/broadcast/device/", {"action": "resume", ACTION_CHECKBOX_NAME: [device.pk]}
        )
    assert callbacks  # the wake, sent on commit
    request = EnrollmentRequest.objects.get()
    assert request.status == "done" and request.result["created"] == 4
    assert sorted(Enrollment.objects.values_list("lead_id", flat=True)) == ids
    assert set(Enrollment.objects.values_list("device_id", flat=True)) == {device.pk}
    assert Message.objects.filter(body="Hi Ann", status="pending").count() == 4


def test_only_a_device_of_the_waiting_workspace_wakes_the_worker(
    workspace, partner_workspace, gateway, eager, django_capture_on_commit_callbacks
):
    mine = make_device(workspace, gateway, 1)
    other = make_device(partner_workspace, gateway, 2)
    sequence = make_sequence(workspace)
    pause(mine, other)
    services.enrollment_create_many(
        lead_ids=make_leads(workspace, 1), sequence_id=sequence.pk, if_no_device="queue"
    )
    woken = []

    def receiver(sender, **kwargs):
        woken.append(kwargs["workspace_ids"])

    enrollment_requests_waiting.connect(receiver, dispatch_uid="test-wake")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.devices_set_status(device_ids=[other.pk], status="active")
        assert woken == [] and EnrollmentRequest.objects.get().status == "pending"
        with django_capture_on_commit_callbacks(execute=True):
            services.devices_set_status(device_ids=[mine.pk], status="active")
    finally:
        enrollment_requests_waiting.disconnect(dispatch_uid="test-wake")
    assert woken == [[workspace.pk]]
    assert EnrollmentRequest.objects.get().status == "done"


def test_a_lead_that_became_dnc_while_waiting_is_skipped(workspace, device):
    sequence = make_sequence(workspace)
    ok, dnc, suppressed = make_leads(workspace, 3)
    pause(device)
    services.enrollment_create_many(
        lead_ids=[ok, dnc, suppressed], sequence_id=sequence.pk, if_no_device="queue"
    )
    leads_mark_dnc(lead_ids=[dnc], reason="asked on a call", actor="user:agent", source="call")
    Lead.objects.filter(pk=suppressed).update(status=Lead.Status.SUPPRESSED)
    services.devices_set_status(device_ids=[device.pk], status="active")
    run = services.enrollment_requests_process()
    assert (run.done, run.created) == (1, 1)
    assert list(Enrollment.objects.values_list("lead_id", flat=True)) == [ok]
    assert EnrollmentRequest.objects.get().result["skipped"] == {"suppressed": 2}


def test_a_sequence_still_without_a_device_is_tried_once_per_run(workspace, device):
    sequence = make_sequence(workspace)
    pause(device)
    for ids in (make_leads(workspace, 1), make_leads(workspace, 1)):
        services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk, if_no_device="queue")
    run = services.enrollment_requests_process()
    assert (run.done, run.waiting, run.failed) == (0, 1, 0)
    assert sorted(EnrollmentRequest.objects.values_list("attempts", flat=True)) == [0, 1]
    assert set(EnrollmentRequest.objects.values_list("status", flat=True)) == {"pending"}
    assert "no active device" in EnrollmentRequest.objects.get(attempts=1).last_error


def test_a_request_for_an_inactive_sequence_fails_visibly_and_can_wait_again(
    admin_client, workspace, device
):
    sequence = make_sequence(workspace)
    pause(device)
    services.enrollment_create_many(
        lead_ids=make_leads(workspace, 2), sequence_id=sequence.pk, if_no_device="queue"
    )
    services.devices_set_status(device_ids=[device.pk], status="active")
    sequence.is_active = False
    sequence.save()
    assert services.enrollment_requests_process().failed == 1
    request = EnrollmentRequest.objects.get()
    assert request.status == "failed" and "not active" in request.last_error
    page = admin_client.get("/admin/broadcast/enrollmentrequest/?status=failed").content.decode()
    assert "not active" in page
    sequence.is_active = True
    sequence.save()
    admin_client.post(
        "/admin/broadcast/enrollmentrequest/",
        {"action": "retry", ACTION_CHECKBOX_NAME: [request.pk]},
    )
    assert EnrollmentRequest.objects.get().status == "pending"
    done = admin_client.post(
        "/admin/broadcast/enrollmentrequest/",
        {"action": "carry_out", ACTION_CHECKBOX_NAME: [request.pk]},
        follow=True,
    )
    assert "Carried out 1 request(s): 2 enrollment(s)" in done.content.decode()
    assert EnrollmentRequest.objects.get().status == "done"


def test_waiting_leads_are_a_queue_on_health(metrics_client, workspace, device):
    sequence = make_sequence(workspace)
    pause(device)
    services.enrollment_create_many(
        lead_ids=make_leads(workspace, 7), sequence_id=sequence.pk, if_no_device="queue"
    )
    health = metrics_client.get("/health").json()
    queue = health["metrics"]["queue_broadcast_enrollment_requests"]
    assert queue["value"] == 7 and queue["status"] == "green"


def test_the_request_page_shows_its_first_leads(admin_client, workspace, device):
    sequence = make_sequence(workspace)
    pause(device)
    ids = make_leads(workspace, 25)
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk, if_no_device="queue")
    request = EnrollmentRequest.objects.get()
    page = admin_client.get(f"/admin/broadcast/enrollmentrequest/{request.pk}/change/")
    assert page.status_code == 200
    assert f"{ids[19]} and 5 more" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_carry_out_the_same_request(workspace, gateway):
    device = make_device(workspace, gateway)
    sequence = make_sequence(workspace)
    pause(device)
    for _ in range(6):
        services.enrollment_create_many(
            lead_ids=make_leads(workspace, 5), sequence_id=sequence.pk, if_no_device="queue"
        )
    Device.objects.filter(pk=device.pk).update(status="active")
    barrier = threading.Barrier(2)
    runs, errors = [], []

    def worker():
        try:
            barrier.wait(timeout=10)
            runs.append(services.enrollment_requests_process())
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sum(r.done for r in runs) == 6 and sum(r.created for r in runs) == 30
    assert set(EnrollmentRequest.objects.values_list("attempts", "status")) == {(1, "done")}
    assert Enrollment.objects.count() == 30 and Message.objects.count() == 30


def test_a_large_admin_selection_waits_in_the_table_when_the_broker_is_down(
    admin_client,
    workspace,
    device,
    broker_down,
    monkeypatch,
    caplog,
    django_capture_on_commit_callbacks,
):
    from broadcast import admin_enroll
    from broadcast.services import requests
    from broadcast.tasks import enrollment_requests_process_task

    monkeypatch.setattr(admin_enroll, "ADMIN_ENROLL_INLINE_LIMIT", 2)
    monkeypatch.setattr(requests, "REQUEST_CHUNK", 2)
    sequence = make_sequence(workspace)
    ids = make_leads(workspace, 5)
    with django_capture_on_commit_callbacks(execute=True) as wakes:
        page = admin_client.post(
            "/admin/leads/lead/",
            {
                "action": "enroll_in_sequence",
                ACTION_CHECKBOX_NAME: ids,
                "apply": "1",
                "sequence": sequence.pk,
            },
            follow=True,
        )
    assert "Enrolling 5 leads" in page.content.decode()
    assert wakes and "could not wake the enrollment request worker" in caplog.text
    rows = EnrollmentRequest.objects.order_by("id")
    assert [(r.lead_ids, r.reason, r.status) for r in rows] == [
        (ids[:2], "queued", "pending"),
        (ids[2:4], "queued", "pending"),
        (ids[4:], "queued", "pending"),
    ]
    assert not Enrollment.objects.exists()  # nothing done in the request itself
    # Beat's sweeper (the task with no arguments) carries them out.
    assert enrollment_requests_process_task() == {
        "done": 3,
        "waiting": 0,
        "failed": 0,
        "created": 5,
    }
    assert sorted(Enrollment.objects.values_list("lead_id", flat=True)) == ids
    assert set(rows.values_list("status", flat=True)) == {"done"}


def test_beat_sweeps_the_pending_requests_every_minute():
    from broadcast.schedules import SCHEDULES

    sweeper = [s for s in SCHEDULES if s["task"].endswith("enrollment_requests_process_task")]
    assert [s["interval_seconds"] for s in sweeper] == [60]
    assert {s["task"] for s in SCHEDULES} <= set(current_app.tasks)


def test_a_session_that_reconnects_carries_out_what_waited_for_it(
    client, workspace, device, eager, django_capture_on_commit_callbacks
):
    from tests.broadcast.test_webhook import post

    sequence = make_sequence(workspace)
    ids = make_leads(workspace, 2)
    Device.objects.filter(pk=device.pk).update(status="disconnected")
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk, if_no_device="queue")
    working = {"event": "session.status", "payload": {"status": "WORKING"}}
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, device, working).json()["device_status"] == "active"
    assert EnrollmentRequest.objects.get().status == "done"
    assert sorted(Enrollment.objects.values_list("lead_id", flat=True)) == ids
