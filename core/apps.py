from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_partitions(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
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
        _register_alerts()


def _register_alerts() -> None:
    from datetime import timedelta

    from django.conf import settings

    from core.alerts.checks import health_findings, job_findings
    from core.alerts.jobs import register_job
    from core.alerts.registry import register_check

    register_check("core.health", health_findings)
    register_check("core.jobs", job_findings)
    day = timedelta(hours=26)
    register_job("core.partitions", every=day, label="Partition maintenance")
    if settings.BACKUP_DIR:
        register_job("core.backup", every=day, label="The nightly backup")
