from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from broadcast.models import Device, Message, Sequence
from broadcast.templating import template_validate
from leads.models import Workspace


def test_demo_broadcast_loads_once_with_valid_templates(db):
    Workspace.objects.create(name="Acme Sales", slug="acme-sales")
    call_command("load_demo_broadcast")
    call_command("load_demo_broadcast")
    sequence = Sequence.objects.get()
    assert sequence.steps.count() == 3
    assert all(
        template_validate(s.template, sequence.placeholder_defaults) == []
        for s in sequence.steps.all()
    )
    assert set(Device.objects.values_list("status", flat=True)) == {"paused"}


def test_due_messages_are_a_graded_queue_on_health(metrics_client, device):
    now = timezone.now()
    Message.objects.create(
        scheduled_at=now,
        enrollment_id=1,
        step=1,
        device=device,
        lead_id=1,
        body="x",
        created_at=now,
    )
    Message.objects.create(
        scheduled_at=now + timedelta(hours=1),
        enrollment_id=2,
        step=1,
        device=device,
        lead_id=2,
        body="x",
        created_at=now,
    )
    body = metrics_client.get("/health").json()
    queue = body["metrics"]["queue_broadcast_due_messages"]
    assert queue["value"] == 1 and queue["status"] == "green"
