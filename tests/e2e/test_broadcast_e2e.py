"""Routing enrolls, and the dispatch task on a real worker sends at each device's pace."""

import pytest

from broadcast.models import Enrollment, Message
from broadcast.tasks import dispatch_task
from routing.tasks import route_pending_task
from tests.broadcast.fixtures import make_device, make_sequence
from tests.e2e.conftest import wait_until
from tests.routing.factories import make_leads, make_rule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_routed_leads_get_their_sequence_through_real_workers(workspace, gateway, celery_worker):
    device = make_device(workspace, gateway, min_interval_seconds=0.3, max_interval_seconds=0.3)
    sequence = make_sequence(workspace, "Hi {first_name}", "Day two")
    make_rule("drip", destinations=[{"workspace": workspace, "sequence": sequence}])
    ids = make_leads(workspace, 3, first_name="Ann")
    celery_worker("routing,broadcast")
    route_pending_task.delay()
    wait_until(
        lambda: Enrollment.objects.filter(lead_id__in=ids).count() == 3,
        what="enrollments made by routing",
    )
    dispatch_task.delay(4.0)
    wait_until(
        lambda: Message.objects.filter(status="sent").count() == 6,
        seconds=60,
        what="both steps sent to the three leads",
    )
    wait_until(
        lambda: set(Enrollment.objects.values_list("status", flat=True)) == {"completed"},
        what="completed enrollments",
    )
    arrivals = [s.at for s in gateway.sends_by_session()[device.gateway_session]]
    assert len(arrivals) == 6
    assert min(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)) >= 0.3


def test_leads_routed_while_every_device_is_paused_are_enrolled_when_one_resumes(
    workspace, gateway, celery_worker
):
    from broadcast import services
    from broadcast.models import Device, EnrollmentRequest

    device = make_device(workspace, gateway, status=Device.Status.PAUSED)
    sequence = make_sequence(workspace, "Hi {first_name}")
    make_rule("drip", destinations=[{"workspace": workspace, "sequence": sequence}])
    ids = make_leads(workspace, 3, first_name="Ann")
    celery_worker("routing,broadcast")
    route_pending_task.delay()
    wait_until(
        lambda: EnrollmentRequest.objects.filter(status="pending").count() == 1,
        what="the routed leads waiting in a pending enrollment request",
    )
    assert not Enrollment.objects.exists()
    services.devices_set_status(device_ids=[device.pk], status=Device.Status.ACTIVE)
    wait_until(
        lambda: Enrollment.objects.filter(lead_id__in=ids).count() == 3,
        what="the worker woken by the resume enrolling them",
    )
    assert EnrollmentRequest.objects.get().status == "done"
