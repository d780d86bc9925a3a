"""``manage.py check`` (and every runserver/migrate): settings that would break dedupe."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def cold_storage_after_dedupe_window(app_configs, **kwargs):
    cold = settings.COLD_STORAGE_AFTER_DAYS
    if cold and cold < settings.DEDUPE_WINDOW_DAYS:
        return [
            Error(
                f"COLD_STORAGE_AFTER_DAYS ({cold}) is shorter than DEDUPE_WINDOW_DAYS "
                f"({settings.DEDUPE_WINDOW_DAYS}): dedupe would miss leads in cold storage.",
                hint="Set COLD_STORAGE_AFTER_DAYS to at least the longest dedupe window.",
                id="leads.E001",
            )
        ]
    return []
