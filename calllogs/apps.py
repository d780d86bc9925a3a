from django.apps import AppConfig


class CalllogsConfig(AppConfig):
    name = "calllogs"
    verbose_name = "Call logs"

    def ready(self) -> None:
        from calllogs import selectors, tasks
        from calllogs.signals import webhook_events_stored
        from core.selectors import register_metric, register_queue

        webhook_events_stored.connect(
            tasks.webhook_events_drain_wake, dispatch_uid="calllogs.webhook_drain_wake"
        )
        register_metric("calllogs_drift", selectors.drift_last_night)
        register_metric("calllogs_webhook_dead_letters", selectors.webhook_dead_letters)
        register_queue("calllogs_webhook_events", selectors.webhook_events_waiting)

        from core.dashboard import register_panel

        register_panel(
            "calls",
            title="Calls",
            order=50,
            template="admin/dashboard/calls.html",
            figures=selectors.dashboard_calls,
        )
