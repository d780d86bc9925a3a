from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from calllogs import services
from dialer.models import ViciServer


@shared_task(name="calllogs.tasks.sync_all_task")
def sync_all_task() -> int:
    total = 0
    # Servers without database access are read through phone_number_log.
    for server_id in ViciServer.objects.filter(is_active=True).values_list("pk", flat=True):
        total += services.calllogs_sync(server_id=server_id)
    return total


@shared_task(name="calllogs.tasks.reconcile_yesterday_task")
def reconcile_yesterday_task() -> int:
    day = (timezone.now() - timedelta(days=1)).date()
    runs = 0
    for server_id in (
        ViciServer.objects.filter(is_active=True).exclude(db_url="").values_list("pk", flat=True)
    ):
        services.calllogs_reconcile(server_id=server_id, day=day)
        runs += 1
    return runs


@shared_task(name="calllogs.tasks.webhook_events_drain_task")
def webhook_events_drain_task() -> int:
    """Apply stored webhook events (woken by the webhook; swept every minute by beat)."""
    return services.webhook_events_drain()
