"""The broadcast part of the contact-safety matrix: a person who is suppressed or marked
do-not-contact gets nothing, whatever the entry path (the admin's "Enroll in a sequence…",
``POST /api/v1/broadcast/enrollments/``) and whenever it happens (before enrollment, while
the send waits for its device's turn, while the gateway is down and the enrollment waits in
a pending request). Checked from the gateway double's own record of every request it
received; in each test a control lead, enrolled the same way, is reached, so the pipeline
did run."""

import threading
import time
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from broadcast import services
from broadcast.models import Device, Enrollment, EnrollmentRequest, Message
from leads.models import Lead
from leads.services import lead_status_set, leads_mark_dnc, suppression_add
from tests.broadcast.fixtures import dispatch_until, make_device, make_sequence
from tests.conftest import make_api_key
from tests.routing.factories import make_leads

PATHS = ["admin", "api"]
# A suppression of the phone; the one do-not-contact action; a status set by hand (no
# suppression row: the status alone must stop contact, whatever the sequence's stop list).
HOWS = ["phone_suppressed", "marked_dnc", "status_suppressed"]


def chat(lead_id: int) -> str:
    return Lead.objects.get(pk=lead_id).phone[1:] + "@c.us"


def enroll_by(path: str, admin_client, sequence, lead_ids: list[int]) -> None:
    """Enroll through one of the two entry paths, as a person or an integrator would."""
    if path == "admin":
        response = admin_client.post(
            "/admin/leads/lead/",
            {
                "action": "enroll_in_sequence",
                ACTION_CHECKBOX_NAME: lead_ids,
                "apply": "1",
                "sequence": sequence.pk,
            },
        )
        assert response.status_code == 302
        return
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(sequence.workspace)}")
    response = api.post(
        "/api/v1/broadcast/enrollments/",
        {"sequence": sequence.pk, "leads": lead_ids},
        format="json",
    )
    assert response.status_code in (201, 202), response.json()


def make_unreachable(how: str, lead_id: int) -> None:
    lead = Lead.objects.get(pk=lead_id)
    if how == "phone_suppressed":
        suppression_add(kind="phone", value=lead.phone, workspace_id=lead.workspace_id)
    elif how == "marked_dnc":
        leads_mark_dnc(lead_ids=[lead_id], reason="asked not to", actor="user:agent", source="call")
    else:
        lead_status_set(lead_ids=[lead_id], status=Lead.Status.SUPPRESSED, actor="user:manager")


def assert_never_reached(gateway, target: int, control: int) -> None:
    reached = gateway.chats_reached()  # every request the gateway received, answered or not
    assert chat(control) in reached  # the flow ran...
    assert chat(target) not in reached  # ...and never touched this person


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("path", PATHS)
def test_suppressed_before_enrollment(admin_client, workspace, device, gateway, path, how):
    sequence = make_sequence(workspace, "Hi {first_name}", "Again", delays=(0, 0))
    target, control = make_leads(workspace, 2)
    make_unreachable(how, target)
    enroll_by(path, admin_client, sequence, [target, control])
    assert not Enrollment.objects.filter(lead_id=target).exists()
    dispatch_until(lambda: Message.objects.filter(lead_id=control, status="sent").count() == 2)
    assert_never_reached(gateway, target, control)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("path", PATHS)
def test_suppressed_while_the_send_waits_for_its_devices_turn(
    admin_client, workspace, gateway, path, how
):
    for n in (1, 2):
        make_device(workspace, gateway, n)
    sequence = make_sequence(workspace, "Hi {first_name}")
    target, control = make_leads(workspace, 2)
    enroll_by(path, admin_client, sequence, [target, control])
    waiting = Enrollment.objects.get(lead_id=target).device_id
    assert Enrollment.objects.get(lead_id=control).device_id != waiting
    Device.objects.filter(pk=waiting).update(next_send_at=timezone.now() + timedelta(seconds=1.5))
    worker = threading.Thread(target=_dispatch, kwargs={"seconds": 3.0, "lookahead": 2.5})
    worker.start()
    try:
        deadline = time.monotonic() + 10
        claimed = Message.objects.filter(lead_id=target, status="sending")
        while not claimed.exists():  # claimed, waiting for the device's turn
            assert time.monotonic() < deadline, "the target's message was never claimed"
            time.sleep(0.01)
        make_unreachable(how, target)
    finally:
        worker.join(timeout=30)
    assert Message.objects.get(lead_id=control).status == "sent"
    assert Message.objects.get(lead_id=target).status == "cancelled"
    assert_never_reached(gateway, target, control)


def _dispatch(**kwargs) -> None:
    try:
        services.dispatch_run(**kwargs)
    finally:
        connection.close()


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("path", PATHS)
def test_suppressed_while_the_gateway_is_down(
    admin_client, workspace, device, gateway, settings, eager,
    django_capture_on_commit_callbacks, path, how,
):  # fmt: skip
    settings.BROADCAST_DEVICE_MAX_FAILURES = 1
    sequence = make_sequence(workspace, "Hi {first_name}")
    [before] = make_leads(workspace, 1)
    services.enrollment_create_many(lead_ids=[before], sequence_id=sequence.pk)
    gateway.down()  # the outage: the device's send fails and pauses it
    dispatch_until(lambda: Device.objects.get(pk=device.pk).status == "paused")
    target, control = make_leads(workspace, 2)
    enroll_by(path, admin_client, sequence, [target, control])
    request = EnrollmentRequest.objects.get()  # the enrollment waits in the table
    assert (sorted(request.lead_ids), request.status) == ([target, control], "pending")
    make_unreachable(how, target)
    gateway.up()
    with django_capture_on_commit_callbacks(execute=True):  # the woken worker runs eagerly
        run = services.devices_probe(now=timezone.now() + timedelta(minutes=5))
    assert run.resumed == [device.pk]
    request.refresh_from_db()
    assert request.status == "done" and request.result["skipped"] == {"suppressed": 1}
    Message.objects.filter(status="pending").update(scheduled_at=timezone.now())
    dispatch_until(lambda: Message.objects.filter(lead_id=control, status="sent").exists())
    assert not Enrollment.objects.filter(lead_id=target).exists()
    assert_never_reached(gateway, target, control)
