from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_partitions(sender, using="default", **kwargs) -> None:
    # Runs once per migrate (sender is this app): every partitioned table gets its
    # monthly partitions for the window around now. Idempotent.
    from core.partitions import partitions_ensure_all

    partitions_ensure_all(using=using)


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        post_migrate.connect(_ensure_partitions, sender=self, dispatch_uid="core.ensure_partitions")
        from core.metrics import register_domain_collector

        register_domain_collector()
        from core.dashboard import register_panel
        from core.selectors import dashboard_health

        register_panel(
            "health",
            title="Health",
            order=5,
            template="admin/dashboard/health.html",
            figures=dashboard_health,
        )
