"""Setting up devices and sequences (the admin forms and the configuration API)."""

from typing import Any

from django.db import transaction

from broadcast.models import Device, Sequence, Step
from broadcast.services.devices import devices_set_status
from core.db import delete_unless_used


def device_save(
    *, device: Device, status_changed: bool = False, reason: str = "", actor: str = ""
) -> Device:
    """Create or change ``device`` (validated by ``broadcast.admin_forms.DeviceForm``). A
    changed status of a stored device goes through its one write path, as a pause or a
    resume in the admin does (events, waking waiting enrollment requests)."""
    with transaction.atomic():
        device.save()
        if status_changed:
            devices_set_status(
                device_ids=[device.pk],
                status=device.status,
                reason=reason or f"set by {actor or 'the API'}",
                actor=actor,
            )
    return device


def device_delete(*, device: Device) -> None:
    """Delete a device that never sent (else ``ConflictError``, 409: pause it instead)."""
    delete_unless_used(device, what="device")


def sequence_save(
    *,
    sequence: Sequence,
    devices: list[Device] | None = None,
    steps: list[dict[str, Any]] | None = None,
) -> Sequence:
    """Create or change ``sequence`` (validated by the admin's sequence form and step
    formset); given ``devices`` and ``steps`` replace the current ones."""
    with transaction.atomic():
        sequence.save()
        if devices is not None:
            sequence.devices.set(devices)
        if steps is not None:
            sequence.steps.all().delete()
            Step.objects.bulk_create([Step(sequence=sequence, **step) for step in steps])
    return sequence


def sequence_delete(*, sequence: Sequence) -> None:
    """Delete a sequence nobody was enrolled in and no routing destination names (else
    409: deactivate it instead)."""
    delete_unless_used(sequence, what="sequence")
