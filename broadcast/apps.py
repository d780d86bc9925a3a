from django.apps import AppConfig


class BroadcastConfig(AppConfig):
    name = "broadcast"
    verbose_name = "Broadcast"

    def ready(self) -> None:
        from broadcast import selectors, signals, tasks
        from core.selectors import register_metric, register_queue
        from leads.panels import register_panel

        signals.connect()
        signals.enrollment_requests_waiting.connect(
            tasks.enrollment_requests_wake, dispatch_uid="broadcast.enrollment_requests_wake"
        )
        register_queue("broadcast_due_messages", selectors.due_message_count)
        register_queue("broadcast_enrollment_requests", selectors.enrollment_requests_waiting)
        register_metric("broadcast_devices_down", selectors.devices_down_count)
        register_panel("broadcast/lead_messages.html", selectors.lead_messages_panel)

        from core.dashboard import register_panel as register_dashboard_panel

        register_dashboard_panel(
            "broadcast",
            title="Messages",
            order=60,
            template="admin/dashboard/broadcast.html",
            figures=selectors.dashboard_broadcast,
        )
