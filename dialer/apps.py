from django.apps import AppConfig


def outbox_pending() -> int:
    from dialer.models import OutboxItem

    return OutboxItem.objects.filter(state__in=["pending", "in_flight"]).count()


def vici_calls_per_hour() -> int:
    from django.db.models import Sum
    from django.utils import timezone

    from dialer.models import ViciServer

    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    total = ViciServer.objects.filter(calls_hour=hour).aggregate(n=Sum("calls_in_hour"))["n"]
    return total or 0


class DialerConfig(AppConfig):
    name = "dialer"
    verbose_name = "Dialer"

    def ready(self) -> None:
        from core.selectors import register_metric, register_queue
        from dialer import signals

        signals.connect()

        register_queue("dialer_outbox", outbox_pending)
        register_metric("vici_calls_per_hour", vici_calls_per_hour)
