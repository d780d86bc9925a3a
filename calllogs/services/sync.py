"""The hourly sync: calls since the server's watermark, from its database when it gives one
(``db_url``), else from the API's ``phone_number_log``, through the one upsert.

A paused server is not called at all (a bad login costs one more of VICIdial's ten
attempts before its lock); a login error on the way pauses it. What went wrong is kept on
the server's hook for the admin, scrubbed of every secret, and never stops another server
(each has its own task).
"""

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from calllogs.client import CallRecord, PhoneLogReader, ViciDatabaseClient
from calllogs.models import CallLog, ServerHook
from calllogs.services.upsert import call_log_upsert_many
from core.errors import ApplicationError, ClientError
from core.secrets import scrub
from dialer.client import PhoneLogRow, ViciLoginError, split_phone
from dialer.models import OutboxItem, ViciServer
from dialer.services import client_for, server_password, server_pause

SAME_CALL_SECONDS = 5  # a logged call this close to a known one on the same phone is it


def server_paused(server: ViciServer, now: datetime) -> bool:
    return bool(server.paused_until and server.paused_until > now)


def server_secrets(server: ViciServer) -> list[str]:
    """Everything about a server that must never be shown, logged or stored."""
    found = [ViciDatabaseClient(server.db_url).password if server.db_url else ""]
    try:
        found.append(server_password(server))
    except ApplicationError:
        pass  # no password configured: nothing to hide
    token = ServerHook.objects.filter(server=server).values_list("token", flat=True).first()
    return [s for s in [*found, token or ""] if s]


def calllogs_sync(*, server_id: int, now: datetime | None = None) -> int:
    """Hourly: read calls since the watermark (minus the overlap) and upsert them. Returns
    how many were read; raises a scrubbed ``ClientError`` when the source failed."""
    now = now or timezone.now()
    server = ViciServer.objects.get(pk=server_id)
    hook, _ = ServerHook.objects.get_or_create(server=server)
    if server_paused(server, now):
        hook_record_error(
            hook, server, f"Not synced: the server is paused ({server.paused_reason})"
        )
        return 0
    since = (hook.sync_watermark or now - timedelta(days=1)) - timedelta(
        minutes=settings.CALLLOGS_SYNC_OVERLAP_MINUTES
    )
    total = 0
    try:
        chunks = (
            ViciDatabaseClient(server.db_url).calls(since, now)
            if server.db_url
            else phone_log_calls(server, since, now)
        )
        for chunk in chunks:
            call_log_upsert_many(server_id=server_id, records=chunk, path="sync")
            total += len(chunk)
    except ApplicationError as exc:  # paused meanwhile, or no password: nothing was sent
        hook_record_error(hook, server, f"Not synced: {exc.message}")
        return 0
    except ClientError as exc:
        text = hook_record_error(hook, server, f"Sync failed: {exc.message}")
        if isinstance(exc, ViciLoginError):
            server_pause(server_id=server.pk, reason=text)
        raise ClientError(text, retryable=exc.retryable) from None
    ServerHook.objects.filter(pk=hook.pk).update(
        sync_watermark=now, last_sync_at=now, last_sync_rows=total, last_error=""
    )
    return total


def hook_record_error(hook: ServerHook, server: ViciServer, text: str) -> str:
    text = scrub(text, *server_secrets(server))[:2000]
    ServerHook.objects.filter(pk=hook.pk).update(last_error=text)
    return text


def phone_log_calls(
    server: ViciServer, since: datetime, until: datetime
) -> Iterator[list[CallRecord]]:
    """Calls of a server without database access, through the API's ``phone_number_log``.

    Its rows carry no uniqueid: a row matches a call we already know on the same phone
    within a few seconds (the webhook's), else it gets a stable made-up uniqueid
    ``<epoch>.p<phone>`` so the hourly repeats merge into one row. Nor do they name the
    lead: the phone does, when only one of our leads on it (or on it in the row's list)
    was pushed or called here; otherwise the call stays without a lead.
    """
    phones = _phones_in_window(server.pk, since, until)
    if not phones:
        return
    reader = PhoneLogReader(client_for(server), timezone=server.timezone)
    for chunk, rows in reader.calls(sorted(phones), since, until, wanted=phones):
        if not rows:
            continue
        known = _known_calls(server.pk, chunk, since, until)
        yield [_phone_log_record(row, at, known, phones) for row, at in rows]


def _phones_in_window(
    server_id: int, since: datetime, until: datetime
) -> dict[str, list[tuple[int, int | None]]]:
    """National phone -> our leads on it (id, Vici list number), for leads pushed to or
    called on this server lately."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.phone, l.id, l.vici_list_number FROM leads_lead l WHERE l.phone <> '' "
            "AND l.id IN ("
            "  SELECT lead_id FROM dialer_outboxitem WHERE server_id = %s AND state = %s"
            "  AND sent_at BETWEEN %s AND %s"
            "  UNION SELECT lead_id FROM calllogs_calllog WHERE server_id = %s"
            "  AND lead_id IS NOT NULL AND call_time BETWEEN %s AND %s) ORDER BY l.id",
            [server_id, OutboxItem.State.SENT, since, until, server_id, since, until],
        )
        rows = cursor.fetchall()
    phones: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
    for phone, lead_id, list_number in rows:
        try:
            phones[split_phone(phone)[1]].append((lead_id, list_number))
        except Exception:  # noqa: BLE001 - a number Vici cannot hold is not in its logs
            continue
    return phones


def _known_calls(
    server_id: int, phones: list[str], since: datetime, until: datetime
) -> dict[str, list[tuple[datetime, str]]]:
    """Phone -> (call time, uniqueid) of the calls we hold on these phones in the window."""
    known: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for phone, call_time, uniqueid in CallLog.objects.filter(
        server_id=server_id,
        phone__in=phones,
        call_time__range=(
            since - timedelta(seconds=SAME_CALL_SECONDS),
            until + timedelta(seconds=SAME_CALL_SECONDS),
        ),
    ).values_list("phone", "call_time", "uniqueid"):
        known[phone].append((call_time, uniqueid))
    return known


def _lead_of(leads: list[tuple[int, int | None]], list_id: int) -> int | None:
    """The one lead on the phone, or the one in the row's list; never a guess."""
    if len(leads) == 1:
        return leads[0][0]
    in_list = [lead for lead, number in leads if number == list_id]
    return in_list[0] if len(in_list) == 1 else None


def _phone_log_record(
    row: PhoneLogRow,
    at: datetime,
    known: dict[str, list[tuple[datetime, str]]],
    phones: dict[str, list[tuple[int, int | None]]],
) -> CallRecord:
    same = [
        (t, u)
        for t, u in known[row.phone_number]
        if abs((t - at).total_seconds()) <= SAME_CALL_SECONDS
    ]
    # A known call keeps its own uniqueid and time (the row's identity) and its lead.
    call_time, uniqueid = (
        same[0] if same else (at, f"{int(at.timestamp())}.p{row.phone_number}"[:50])
    )
    return CallRecord(
        uniqueid=uniqueid,
        call_time=call_time,
        lead_hint=_lead_of(phones[row.phone_number], row.list_id),
        phone=row.phone_number,
        list_id=row.list_id or None,
        agent=row.user,
        status=row.call_status,
        talk_seconds=row.length_in_sec,
        term_reason=row.hangup_reason,
    )
