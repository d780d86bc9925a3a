"""A VICIdial server's state: its hourly call budget, and pausing it (bad logins).

A paused or inactive server is never called: ``server_assert_open`` (used by
``client_for`` and by every claim of the drain) refuses it, and only "Resume" may reach it,
to check the login before the pause is lifted.
"""

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from dialer.exceptions import ServerPausedError
from dialer.models import ViciServer

logger = logging.getLogger(__name__)
FOREVER = timedelta(days=3650)


def _hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def _refuse_closed(server: ViciServer, *, resuming: bool = False) -> None:
    if not server.is_active:
        raise ServerPausedError(f"VICIdial server {server.name} is inactive.")
    if not resuming and server.paused_until and server.paused_until > timezone.now():
        raise ServerPausedError(
            f"VICIdial server {server.name} is paused until someone resumes it in admin."
        )


def server_assert_open(*, server_id: int, resuming: bool = False) -> None:
    """Raise ``ServerPausedError`` unless the server (as stored now) may be called."""
    server = ViciServer.objects.only("name", "is_active", "paused_until").get(pk=server_id)
    _refuse_closed(server, resuming=resuming)


def calls_reserve(*, server_id: int, want: int) -> int:
    """Reserve up to ``want`` calls of the server's hourly budget (exact across workers).
    Raises ``ServerPausedError`` if the server was paused or deactivated meanwhile."""
    now = timezone.now()
    with transaction.atomic():
        server = ViciServer.objects.select_for_update().get(pk=server_id)
        _refuse_closed(server)
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


def server_alert_add(*, server_id: int, lines: list[str]) -> None:
    """Raise the server's alert with these lines (each once): problems only a VICIdial or
    Leadbrain admin can fix, such as a missing list or a missing API permission."""
    with transaction.atomic():
        server = ViciServer.objects.select_for_update().only("alert").get(pk=server_id)
        current = [line for line in server.alert.splitlines() if line]
        new = [line for line in dict.fromkeys(lines) if line not in current]
        if not new:
            return
        for line in new:
            logger.error("VICIdial server %s: %s", server_id, line)
        ViciServer.objects.filter(pk=server_id).update(alert="\n".join(current + new))


def server_alert_clear(*, server_ids: list[int]) -> int:
    return ViciServer.objects.filter(pk__in=server_ids).exclude(alert="").update(alert="")
