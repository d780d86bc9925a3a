from django.apps import AppConfig


def drift_last_night() -> int:
    from calllogs.models import ReconciliationRun

    run = ReconciliationRun.objects.order_by("-started_at").first()
    return (run.missing + run.differing) if run else 0


def webhook_events_waiting() -> int:
    from calllogs.models import WebhookEvent

    return WebhookEvent.objects.count()


class CalllogsConfig(AppConfig):
    name = "calllogs"
    verbose_name = "Call logs"

    def ready(self) -> None:
        from core.selectors import register_metric, register_queue

        register_metric("calllogs_drift", drift_last_night)
        register_queue("calllogs_webhook_events", webhook_events_waiting)
