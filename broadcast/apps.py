from django.apps import AppConfig


class BroadcastConfig(AppConfig):
    name = "broadcast"
    verbose_name = "Broadcast"

    def ready(self) -> None:
        from broadcast import selectors, signals
        from core.selectors import register_metric, register_queue
        from leads.panels import register_panel

        signals.connect()
        register_queue("broadcast_due_messages", selectors.due_message_count)
        register_metric("broadcast_devices_down", selectors.devices_down_count)
        register_panel("broadcast/lead_messages.html", selectors.lead_messages_panel)
