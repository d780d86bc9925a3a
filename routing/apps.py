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
        from core.selectors import register_metric, register_queue
        from leads.placement import register_placement
        from routing import selectors, signals

        signals.connect()
        register_queue("routing_pending", pending_leads)
        register_queue("routing_retry", retry_items)

        from core import slo
        from core.alerts.registry import register_check

        register_metric("routing_success_ratio", selectors.routing_success_ratio)
        register_metric("routing_lock_ratio", selectors.routing_lock_ratio)
        register_metric("routing_latency_p95_seconds", selectors.routing_latency_p95_seconds)
        register_check("routing.failures", selectors.alert_routing_failures)
        slo.declare(
            "routing_decision_latency_seconds",
            "histogram",
            "Seconds from a lead's intake commit to its routing commit",
        )
        slo.declare("routing_claimed_total", "counter", "Leads claimed for routing")
        slo.declare("routing_locked_total", "counter", "Claimed leads still held at decision")
        slo.declare("routing_failed_total", "counter", "Claimed leads whose batch failed")

        register_placement("rule", selectors.lead_rule_placement)
        from core.dashboard import register_panel
        from routing.selectors import dashboard_routing

        register_panel(
            "caps",
            title="Destination caps",
            order=30,
            template="admin/dashboard/caps.html",
            figures=dashboard_routing,
        )
