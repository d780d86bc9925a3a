from django.apps import AppConfig


def leads_last_24h() -> int:
    from datetime import timedelta

    from django.utils import timezone

    from leads.models import Lead

    return Lead.objects.filter(created_at__gte=timezone.now() - timedelta(days=1)).count()


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from core.scope import register_workspace_resolver
        from core.selectors import register_metric
        from leads import checks  # noqa: F401 - registers the system checks
        from leads.selectors import user_workspace_ids

        register_metric("leads_per_day", leads_last_24h)

        from datetime import timedelta

        from core.alerts.jobs import register_job

        register_job("leads.archive", every=timedelta(hours=26), label="The nightly archive job")
        register_workspace_resolver(user_workspace_ids)

        from core.dashboard import register_panel, register_workspace_namer
        from leads.selectors import dashboard_leads, workspace_names

        register_workspace_namer(workspace_names)
        register_panel(
            "leads",
            title="Leads in",
            order=10,
            template="admin/dashboard/leads.html",
            figures=dashboard_leads,
        )
