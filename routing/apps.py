from django.apps import AppConfig


def pending_leads() -> int:
    from leads.models import Lead

    return Lead.objects.filter(status=Lead.Status.PENDING).count()


def retry_items() -> int:
    from routing.models import RetryItem

    return RetryItem.objects.filter(is_dead=False).count()


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from core.selectors import register_queue
        from routing import signals

        signals.connect()
        register_queue("routing_pending", pending_leads)
        register_queue("routing_retry", retry_items)

        from core.dashboard import register_panel
        from routing.selectors import dashboard_routing

        register_panel(
            "caps",
            title="Destination caps",
            order=30,
            template="admin/dashboard/caps.html",
            figures=dashboard_routing,
        )
