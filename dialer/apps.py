from django.apps import AppConfig


class DialerConfig(AppConfig):
    name = "dialer"
    verbose_name = "Dialer"

    def ready(self) -> None:
        from core.selectors import register_metric, register_queue
        from dialer import selectors, signals

        signals.connect()

        register_queue("dialer_outbox", selectors.outbox_pending)
        register_metric("vici_calls_per_hour", selectors.vici_calls_per_hour)
        register_metric("dialer_error_ratio", selectors.dialer_error_ratio)
        register_metric("dialer_servers_paused", selectors.servers_paused)
        register_metric("dialer_outbox_dead", selectors.outbox_dead)
        register_metric("dialer_outbox_failing", selectors.outbox_failing)
        register_metric("dialer_push_lag_p95_seconds", selectors.dialer_push_lag_p95_seconds)

        from core import slo
        from core.alerts.registry import register_check

        register_check("dialer.server_paused", selectors.alert_servers_paused)
        register_check("dialer.outbox_failing", selectors.alert_outbox_failing)
        slo.declare(
            "dialer_push_lag_seconds",
            "histogram",
            "Seconds from routed (the add enqueued) to in VICIdial, per server",
            label="server",
        )
        slo.declare("dialer_requests_total", "counter", "VICIdial requests", label="server")
        slo.declare("dialer_errors_total", "counter", "VICIdial requests failed", label="server")

        from leads.placement import register_placement

        register_placement("vici_list", selectors.lead_vici_placement)

        from core.crypto import register_rotation
        from dialer.services.rotation import server_passwords_reencrypt

        register_rotation("VICIdial API passwords", server_passwords_reencrypt)

        from core.dashboard import register_panel

        register_panel(
            "dialer",
            title="VICIdial outbox",
            order=40,
            template="admin/dashboard/dialer.html",
            figures=selectors.dashboard_dialer,
        )
