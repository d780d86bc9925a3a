"""A VICIdial server's state: its hourly call budget, and pausing it (bad logins)."""

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from dialer.models import ViciServer

logger = logging.getLogger(__name__)
FOREVER = timedelta(days=3650)


def _hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def calls_reserve(*, server_id: int, want: int) -> int:
    """Reserve up to ``want`` calls of the server's hourly budget (exact across workers)."""
    now = timezone.now()
    with transaction.atomic():
        server = ViciServer.objects.select_for_update().get(pk=server_id)
        used = server.calls_in_hour if server.calls_hour == _hour(now) else 0
        granted = max(0, min(want, server.max_calls_per_hour - used))
        ViciServer.objects.filter(pk=server_id).update(
            calls_hour=_hour(now), calls_in_hour=used + granted
        )
    return granted


def calls_release(*, server_id: int, unused: int) -> None:
    if unused > 0:
        hour = _hour(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE dialer_viciserver SET calls_in_hour = GREATEST(0, calls_in_hour - %s) "
                "WHERE id = %s AND calls_hour = %s",
                [unused, server_id, hour],
            )


def server_pause(*, server_id: int, reason: str) -> None:
    logger.error("VICIdial server %s paused: %s", server_id, reason)
    ViciServer.objects.filter(pk=server_id).update(
        paused_until=timezone.now() + FOREVER, paused_reason=reason[:500], last_error=reason
    )


def server_resume(*, server: ViciServer) -> None:
    ViciServer.objects.filter(pk=server.pk).update(paused_until=None, paused_reason="")
