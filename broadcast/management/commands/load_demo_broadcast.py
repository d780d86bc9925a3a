import datetime as dt

from django.core.management.base import BaseCommand

from broadcast.models import Device, Sequence, Step
from leads.models import Workspace

STEPS = [
    (
        0,
        "Hi {first_name}, thanks for your interest in {company}'s solar quote. "
        "Reply here with any question, or STOP to opt out.",
    ),
    (60 * 24, "{first_name}, your installer slot this month is still open: code {promo}."),
    (60 * 24 * 3, "Last note from us, {first_name}. Reply YES and an advisor will call you."),
]


class Command(BaseCommand):
    help = "Load the broadcast demo once: two paused devices and a three-step sequence."

    def handle(self, *args, **options):
        workspace = Workspace.objects.filter(slug="acme-sales").first()
        if workspace is None or Sequence.objects.filter(workspace=workspace).exists():
            self.stdout.write("broadcast demo: nothing to do")
            return
        devices = [
            Device.objects.create(
                workspace=workspace,
                name=f"WhatsApp {n}",
                phone=f"+1213555{n:04d}",
                gateway_url="http://127.0.0.1:3000",
                gateway_session=f"demo{n}",
                status=Device.Status.PAUSED,
                status_reason="demo device: point it at your WAHA gateway, then resume it",
            )
            for n in (1, 2)
        ]
        sequence = Sequence.objects.create(
            workspace=workspace,
            name="Solar welcome",
            window_start=dt.time(9),
            window_end=dt.time(21),
            placeholder_defaults={"first_name": "there", "promo": "SUN10"},
        )
        sequence.devices.set(devices)
        for position, (delay, template) in enumerate(STEPS, start=1):
            Step.objects.create(
                sequence=sequence, position=position, delay_minutes=delay, template=template
            )
        self.stdout.write("broadcast demo: 2 paused devices, sequence 'Solar welcome'")
