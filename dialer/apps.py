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
