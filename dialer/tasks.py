from celery import shared_task

from dialer import services
from dialer.models import ViciServer


@shared_task(name="dialer.tasks.outbox_drain_all_task")
def outbox_drain_all_task() -> int:
    """Fan out one drain per active server (each server drains on its own)."""
    ids = list(ViciServer.objects.filter(is_active=True).values_list("pk", flat=True))
    for server_id in ids:
        outbox_drain_task.delay(server_id)
    return len(ids)


# Drains until nothing is due: a backlog takes minutes (items in flight when a limit hits
# are leased and claimed again after DIALER_LEASE_SECONDS).
@shared_task(name="dialer.tasks.outbox_drain_task", soft_time_limit=1200, time_limit=1260)
def outbox_drain_task(server_id: int) -> int:
    if not ViciServer.objects.filter(pk=server_id, is_active=True).exists():
        return 0
    return services.outbox_drain(server_id=server_id).sent


@shared_task(name="dialer.tasks.outbox_lead_scope_recheck_task")
def outbox_lead_scope_recheck_task() -> int:
    """Each minute: outbox items stamped from a lead that was moving meanwhile, stamped again."""
    return services.outbox_lead_scope_recheck()
