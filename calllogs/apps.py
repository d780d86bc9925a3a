from django.apps import AppConfig


class CalllogsConfig(AppConfig):
    name = "calllogs"
    verbose_name = "Call logs"

    def ready(self) -> None:
        from calllogs import selectors, tasks
        from calllogs.signals import webhook_events_stored
        from core.selectors import register_metric, register_queue
        from dialer.signals import vici_server_added

        vici_server_added.connect(
            tasks.on_vici_server_added, dispatch_uid="calllogs.vici_server_added"
        )
        webhook_events_stored.connect(
            tasks.webhook_events_drain_wake, dispatch_uid="calllogs.webhook_drain_wake"
        )
        register_metric("calllogs_drift", selectors.drift_last_night)
        register_metric("calllogs_webhook_dead_letters", selectors.webhook_dead_letters)
        register_queue("calllogs_webhook_events", selectors.webhook_events_waiting)
        register_metric("calllogs_webhook_apply_lag_seconds", selectors.webhook_apply_lag_seconds)
        register_metric("calllogs_sync_failing", selectors.sync_failing_servers)

        from core.alerts.registry import register_check

        register_check("calllogs.sync_failing", selectors.alert_sync_failing)
        register_check("calllogs.reconcile_drift", selectors.alert_reconcile_drift)
        register_check("calllogs.dead_letters", selectors.alert_dead_letters_growing)

        from core.dashboard import register_panel

        register_panel(
            "calls",
            title="Calls",
            order=50,
            template="admin/dashboard/calls.html",
            figures=selectors.dashboard_calls,
        )
