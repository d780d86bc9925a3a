from django.apps import AppConfig


def due_messages() -> int:
    from django.utils import timezone

    from broadcast.models import Message

    return Message.objects.filter(status="pending", scheduled_at__lte=timezone.now()).count()


def devices_down() -> int:
    from broadcast.models import Device

    return Device.objects.exclude(status=Device.Status.ACTIVE).count()


def lead_messages_panel(lead) -> dict:
    from broadcast.models import Enrollment, Message

    messages = list(
        Message.objects.filter(lead_id=lead.pk)
        .select_related("device")
        .order_by("-scheduled_at")[:200]
    )
    enrollments = list(
        Enrollment.objects.filter(lead_id=lead.pk).select_related("sequence", "device")[:50]
    )
    return {"messages": messages, "enrollments": enrollments}


class BroadcastConfig(AppConfig):
    name = "broadcast"
    verbose_name = "Broadcast"

    def ready(self) -> None:
        from core.selectors import register_metric, register_queue
        from leads.panels import register_panel

        register_queue("broadcast_due_messages", due_messages)
        register_metric("broadcast_devices_down", devices_down)
        register_panel("broadcast/lead_messages.html", lead_messages_panel)
