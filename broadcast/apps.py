from django.apps import AppConfig


class BroadcastConfig(AppConfig):
    name = "broadcast"
    verbose_name = "Broadcast"

    def ready(self) -> None:
        from broadcast import selectors, signals, tasks
        from core.selectors import register_metric, register_queue
        from leads.panels import register_panel
        from leads.placement import register_placement

        signals.connect()
        signals.enrollment_requests_waiting.connect(
            tasks.enrollment_requests_wake, dispatch_uid="broadcast.enrollment_requests_wake"
        )
        register_queue("broadcast_due_messages", selectors.due_message_count)
        register_queue("broadcast_enrollment_requests", selectors.enrollment_requests_waiting)
        register_metric("broadcast_devices_down", selectors.devices_down_count)
        register_metric("broadcast_send_lag_p95_seconds", selectors.send_lag_p95_seconds)
        register_metric("broadcast_pacing_violations", selectors.pacing_violations)
        register_metric("broadcast_devices_alerting", selectors.devices_alerting)

        from core import slo
        from core.alerts.registry import register_check

        register_check("broadcast.device_down", selectors.alert_devices_down)
        slo.declare(
            "broadcast_send_lag_seconds",
            "histogram",
            "Seconds from a message's schedule to its send",
        )
        slo.declare("broadcast_sends_total", "counter", "Messages sent")
        slo.declare(
            "broadcast_pacing_violations_total",
            "counter",
            "Sends closer to the device's previous send than its minimum interval",
        )
        register_panel("broadcast/lead_messages.html", selectors.lead_messages_panel)
        register_placement("sequence", selectors.lead_sequence_placement)

        from core.dashboard import register_panel as register_dashboard_panel

        register_dashboard_panel(
            "broadcast",
            title="Messages",
            order=60,
            template="admin/dashboard/broadcast.html",
            figures=selectors.dashboard_broadcast,
        )
