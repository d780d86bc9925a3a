from django.apps import AppConfig


def due_messages() -> int:
    from django.utils import timezone

    from broadcast.models import Message

    return Message.objects.filter(status="pending", scheduled_at__lte=timezone.now()).count()


def devices_down() -> int:
    from broadcast.models import Device

    return Device.objects.exclude(status=Device.Status.ACTIVE).count()


class BroadcastConfig(AppConfig):
    name = "broadcast"
    verbose_name = "Broadcast"

    def ready(self) -> None:
        from core.selectors import register_metric, register_queue

        register_queue("broadcast_due_messages", due_messages)
        register_metric("broadcast_devices_down", devices_down)
