from datetime import timedelta

from django.utils import timezone

from broadcast import selectors, services
from broadcast.models import Device, Message
from tests.broadcast.fixtures import make_device, make_sequence
from tests.routing.factories import make_leads


def test_reads_are_scoped_to_the_callers_workspace(workspace, partner_workspace, gateway):
    make_device(workspace, gateway, 1)
    make_device(partner_workspace, gateway, 2)
    mine = make_sequence(workspace, name="Mine")
    theirs = make_sequence(partner_workspace, name="Theirs")
    [lead] = make_leads(workspace, 1)
    [other] = make_leads(partner_workspace, 1)
    services.enrollment_create_many(lead_ids=[lead], sequence_id=mine.pk)
    services.enrollment_create_many(lead_ids=[other], sequence_id=theirs.pk)

    assert list(selectors.sequences_for(workspace_ids=[workspace.pk])) == [mine]
    assert set(selectors.sequences_for()) == {mine, theirs}  # staff: every workspace
    assert selectors.sequence_get(sequence_id=theirs.pk, workspace_ids=[workspace.pk]) is None
    assert [e.lead_id for e in selectors.enrollments_for(workspace_ids=[workspace.pk])] == [lead]
    assert [e.lead_id for e in selectors.enrollments_for(lead_id=other)] == [other]
    foreign = selectors.enrollments_for(lead_id=other).get()
    assert selectors.enrollment_get(enrollment_id=foreign.pk, workspace_ids=[workspace.pk]) is None
    assert selectors.enrollment_get(enrollment_id=foreign.pk) == foreign
    assert [m.lead_id for m in selectors.lead_messages(lead_id=lead)] == [lead]


def test_queue_depth_and_devices_down(workspace, gateway):
    device = make_device(workspace, gateway, 1)
    make_device(workspace, gateway, 2, status=Device.Status.PAUSED)
    now = timezone.now()
    for n, at in enumerate((now - timedelta(minutes=1), now + timedelta(hours=1))):
        Message.objects.create(
            scheduled_at=at,
            enrollment_id=n,
            step=1,
            device=device,
            lead_id=n,
            body="x",
            created_at=now,
        )
    assert selectors.due_message_count() == 1
    assert selectors.devices_down_count() == 1
