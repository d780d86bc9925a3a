"""Call logs: one upsert for the webhook, the hourly sync and the nightly reconciliation.

Repeats and any order give the same row: fields merge commutatively (the record with the
higher (status rank, status) wins each field, empty values never overwrite, talk time is
the maximum, paths are OR-ed). Disposition actions and lead events follow only when a
call is new or its status changed, so a repeat writes nothing.
"""

import json
import logging
import time
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from broadcast import services as broadcast_services
from calllogs.models import (
    PATH_NAMES,
    CallLog,
    DispositionMap,
    ReconciliationRun,
    ServerHook,
)
from core.db import json_value
from core.errors import error_body
from core.locks import advisory_xact_locks, lock_key
from dialer.client import split_phone
from dialer.services import client_for
from leads.models import Lead, LeadEvent, Suppression
from leads.services import (
    EventSpec,
    lead_events_record,
    lead_status_set,
    suppression_add_many,
)

logger = logging.getLogger(__name__)

PATHS = {name: bit for bit, name in PATH_NAMES.items()}
ACTION_STATUS = {
    DispositionMap.Action.SALE: Lead.Status.SALE,
    DispositionMap.Action.NOT_INTERESTED: Lead.Status.NOT_INTERESTED,
    DispositionMap.Action.DNC: Lead.Status.DNC,
    DispositionMap.Action.CALLBACK: Lead.Status.CALLBACK,
    DispositionMap.Action.CONTACTED: Lead.Status.CONTACTED,
}


@dataclass
class CallRecord:
    uniqueid: str
    call_time: datetime | None = None  # default: the uniqueid's epoch
    vendor_lead_code: str = ""
    vici_lead_id: int | None = None
    phone: str = ""
    list_id: int | None = None
    campaign: str = ""
    agent: str = ""
    status: str = ""
    talk_seconds: int = 0
    term_reason: str = ""
    call_id: str = ""
    recording_url: str = ""
    direction: str = "out"


def call_time_of(uniqueid: str) -> datetime:
    """Asterisk uniqueid is "<epoch>.<sequence>"."""
    epoch = uniqueid.split(".", 1)[0]
    if not epoch.isdigit() or not 9 <= len(epoch) <= 11:
        raise ValueError(f"not an Asterisk uniqueid: {uniqueid!r}")
    return datetime.fromtimestamp(int(epoch), tz=UTC)


def _lock_key(server_id: int, uniqueid: str) -> int:
    return lock_key("call", server_id, uniqueid)


def _resolve_leads(records: list[CallRecord]) -> dict[str, int | None]:
    """Our lead id per uniqueid: vendor_lead_code first (it is our id), else Vici lead_id."""
    ours = {int(r.vendor_lead_code) for r in records if r.vendor_lead_code.isdigit()}
    existing = set(Lead.objects.filter(id__in=ours).values_list("id", flat=True)) if ours else set()
    vici_ids = {r.vici_lead_id for r in records if r.vici_lead_id}
    by_vici = (
        dict(Lead.objects.filter(vici_lead_id__in=vici_ids).values_list("vici_lead_id", "id"))
        if vici_ids
        else {}
    )
    result = {}
    for r in records:
        code = int(r.vendor_lead_code) if r.vendor_lead_code.isdigit() else None
        result[r.uniqueid] = code if code in existing else by_vici.get(r.vici_lead_id)
    return result


@dataclass
class UpsertStats:
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0


def call_log_upsert_many(*, server_id: int, records: list[CallRecord], path: str) -> UpsertStats:
    """Insert or merge calls by (server, uniqueid); apply dispositions to their leads."""
    stats = UpsertStats()
    if not records:
        return stats
    merged: dict[str, CallRecord] = {}
    for r in records:
        merged[r.uniqueid] = r  # one row per uniqueid per statement (last wins within a batch)
    records = list(merged.values())
    finals = dict(DispositionMap.objects.values_list("status", "final"))
    leads = _resolve_leads(records)
    path_bit = PATHS[path]
    rows = []
    for r in records:
        status = r.status.strip().upper()[:6]
        final = finals.get(status, bool(status))  # unknown campaign statuses are final
        rank = (10 if final else (5 if status else 0)) + path_bit
        rows.append(
            (
                r.uniqueid,
                r.call_time or call_time_of(r.uniqueid),
                leads[r.uniqueid],
                r.vici_lead_id,
                r.phone[:20],
                r.list_id,
                r.campaign[:20],
                r.agent[:20],
                status,
                rank,
                max(0, int(r.talk_seconds or 0)),
                r.term_reason[:20],
                r.call_id[:40],
                r.recording_url[:500],
                r.direction,
            )
        )
    columns = list(zip(*rows, strict=True))
    keys = sorted({_lock_key(server_id, r.uniqueid) for r in records})
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        advisory_xact_locks(keys)
        cursor.execute(
            "SELECT uniqueid, status FROM calllogs_calllog WHERE server_id = %s "
            "AND (uniqueid, call_time) IN (SELECT * FROM unnest(%s::varchar[], "
            "%s::timestamptz[]))",
            [server_id, list(columns[0]), list(columns[1])],
        )
        before = dict(cursor.fetchall())
        win = "(EXCLUDED.status_rank, EXCLUDED.status) > (c.status_rank, c.status)"

        def pick(col: str) -> str:
            first = f"CASE WHEN {win} THEN EXCLUDED.{col} ELSE c.{col} END"
            second = f"CASE WHEN {win} THEN c.{col} ELSE EXCLUDED.{col} END"
            return f"COALESCE(NULLIF({first}, ''), NULLIF({second}, ''), '')"

        text_cols = [
            "phone",
            "campaign",
            "agent",
            "status",
            "term_reason",
            "call_id",
            "recording_url",
            "direction",
        ]
        updates = ", ".join(f"{col} = {pick(col)}" for col in text_cols)
        cursor.execute(
            f"""
            INSERT INTO calllogs_calllog AS c (server_id, uniqueid, call_time, lead_id,
                vici_lead_id, phone, list_id, campaign, agent, status, status_rank,
                talk_seconds, term_reason, call_id, recording_url, direction, paths,
                created_at, updated_at)
            SELECT %s, u.*, %s, %s, %s FROM unnest(
                %s::varchar[], %s::timestamptz[], %s::bigint[], %s::bigint[], %s::varchar[],
                %s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[], %s::smallint[],
                %s::int[], %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[]) u
            ON CONFLICT (server_id, uniqueid, call_time) DO UPDATE SET
                {updates},
                status_rank = GREATEST(c.status_rank, EXCLUDED.status_rank),
                lead_id = LEAST(c.lead_id, EXCLUDED.lead_id),
                vici_lead_id = LEAST(c.vici_lead_id, EXCLUDED.vici_lead_id),
                list_id = COALESCE(c.list_id, EXCLUDED.list_id),
                talk_seconds = GREATEST(c.talk_seconds, EXCLUDED.talk_seconds),
                paths = c.paths | EXCLUDED.paths,
                updated_at = EXCLUDED.updated_at
            RETURNING uniqueid, lead_id, status, agent, talk_seconds, recording_url, call_time
            """,
            [server_id, path_bit, now, now, *[list(c) for c in columns]],
        )
        after = cursor.fetchall()
        _apply(after, before, stats)
    return stats


def _apply(after: list[tuple], before: dict[str, str], stats: UpsertStats) -> None:
    """Events and disposition actions for calls that are new or changed status."""
    maps = {m.status: m for m in DispositionMap.objects.all()}
    events = []
    by_action: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for uniqueid, lead_id, status, agent, talk, recording, call_time in after:
        if uniqueid not in before:
            stats.inserted += 1
        elif before[uniqueid] != status:
            stats.changed += 1
        else:
            stats.unchanged += 1
            continue
        if lead_id is None:
            continue
        mapping = maps.get(status)
        name = mapping.name if mapping else status
        message = f"Call {status or 'started'}" + (f" ({name})" if status else "")
        if agent:
            message += f" by agent {agent}"
        if talk:
            message += f", talk {talk} s"
        events.append(
            EventSpec(
                lead_id=lead_id,
                kind=LeadEvent.Kind.DISPOSITIONED if status else LeadEvent.Kind.CALLED,
                message=message,
                actor="vicidial",
                at=call_time,
                data={
                    "uniqueid": uniqueid,
                    "status": status,
                    "status_name": name,
                    "agent": agent,
                    "talk_seconds": talk,
                    "recording_url": recording,
                },
            )
        )
        if mapping and mapping.action in ACTION_STATUS:
            by_action[mapping.action].append((lead_id, status))
    lead_events_record(events=events)
    for action, items in by_action.items():
        lead_ids = sorted({lead_id for lead_id, _ in items})
        lead_status_set(
            lead_ids=lead_ids,
            status=ACTION_STATUS[action],
            reason=f"VICIdial disposition {items[0][1]}",
            actor="vicidial",
        )
        if action in (DispositionMap.Action.DNC, DispositionMap.Action.SALE):
            broadcast_services.enrollment_stop_for_leads(
                lead_ids=lead_ids, reason=f"disposition {action}"
            )
        if action == DispositionMap.Action.DNC:
            phones = Lead.objects.filter(id__in=lead_ids).values_list("phone", "workspace_id")
            suppression_add_many(
                entries=[(Suppression.Kind.PHONE, phone, ws) for phone, ws in phones if phone],
                reason="VICIdial DNC",
                source="dnc",
            )


# --- webhook -------------------------------------------------------------------------------


def webhook_value(raw: str | None) -> str:
    """A call-URL value; a placeholder VICIdial left unfilled (--A--x--B--) counts as empty."""
    if raw is None:
        return ""
    value = raw.strip()
    if value.startswith("--A--") and value.endswith("--B--"):
        return ""
    return value


def _int(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.lstrip("-").isdigit() else None


def record_from_webhook(params: dict[str, str]) -> CallRecord:
    """Build a record from the query string of a Start, Dispo or No-Agent call URL."""

    def get(*names: str) -> str:
        return next((v for n in names if (v := webhook_value(params.get(n)))), "")

    uniqueid = get("uniqueid")
    call_time_of(uniqueid)  # validates
    call_id = get("call_id", "callerid")
    recording = get("recording_url", "rec", "recording_filename")
    return CallRecord(
        uniqueid=uniqueid,
        vendor_lead_code=get("vendor_lead_code", "vendor_id"),
        vici_lead_id=_int(get("lead_id")),
        phone=get("phone_number", "phone", "dialed_number"),
        list_id=_int(get("list_id")),
        campaign=get("campaign", "group", "channel_group"),
        agent=get("user"),
        status=get("dispo", "status"),
        talk_seconds=_int(get("talk_time", "talk")) or 0,
        term_reason=get("term_reason", "term"),
        call_id=call_id,
        recording_url=recording,
        direction="in" if call_id.startswith("Y") or get("closecallid") else "out",
    )


_hook_cache: dict[tuple[str, str], tuple[float, int | None]] = {}
HOOK_CACHE_SECONDS = 60.0


def webhook_server(*, server: str, token: str) -> int | None:
    """The server id a (server, token) pair authenticates, cached a minute per process (a
    rotated token stops working within that minute)."""
    if not server.isdigit() or not token:
        return None
    key = (server, token)
    hit = _hook_cache.get(key)
    now = time.monotonic()
    if hit and now - hit[0] < HOOK_CACHE_SECONDS:
        return hit[1]
    server_id = (
        ServerHook.objects.filter(server_id=int(server), token=token)
        .values_list("server_id", flat=True)
        .first()
    )
    if len(_hook_cache) > 1000:
        _hook_cache.clear()
    _hook_cache[key] = (now, server_id)
    return server_id


def webhook_receive(*, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """One call-URL request: check the server and token, validate, store. Returns the HTTP
    status and JSON body to answer (the Django view and the WSGI fast path both use it)."""
    server_id = webhook_server(server=params.get("server", ""), token=params.get("token", ""))
    if server_id is None:
        return 403, error_body("forbidden", "Unknown server or token.")
    try:
        record_from_webhook(params)
    except ValueError as exc:
        return 400, error_body("invalid", str(exc), {"uniqueid": [str(exc)]})
    stored = {name: value for name, value in params.items() if name != "token"}  # secret
    webhook_event_store(server_id=server_id, params=stored)
    return 200, {"ok": True, "queued": True}


def webhook_event_store(*, server_id: int, params: dict[str, str]) -> None:
    """Keep a validated call-URL request (one INSERT) and wake a worker to apply it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO calllogs_webhookevent (server_id, received_at, params) "
            "VALUES (%s, now(), %s)",
            [server_id, json.dumps(params)],
        )
    transaction.on_commit(_wake_drain)


_last_wake = 0.0


def _wake_drain() -> None:
    """At most one drain task queued a second, whatever the request rate (a process that
    woke it less than half a second ago does not even ask Redis). The task runs when the
    second is over, so it also applies every event stored during that second."""
    global _last_wake
    from django.core.cache import cache

    now = time.monotonic()
    if now - _last_wake < 0.5:
        return
    _last_wake = now
    try:
        if cache.add("calllogs:webhook-drain", 1, timeout=1):
            from calllogs.tasks import webhook_events_drain_task

            webhook_events_drain_task.apply_async(countdown=1.0)
    except Exception:  # Redis down: the per-minute sweeper applies the event
        logger.warning("could not wake the webhook drain", exc_info=True)


def webhook_events_drain(*, batch_size: int = 1000, max_batches: int | None = None) -> int:
    """Apply stored webhook events in batches: delete and upsert in one transaction each."""
    applied = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM calllogs_webhookevent WHERE id IN (SELECT id FROM "
                "calllogs_webhookevent ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
                "RETURNING id, server_id, params",
                [batch_size],
            )
            rows = sorted(cursor.fetchall())
            if not rows:
                break
            by_server: dict[int, list[CallRecord]] = defaultdict(list)
            for _id, server_id, params in rows:
                try:
                    by_server[server_id].append(record_from_webhook(json_value(params)))
                except ValueError as exc:  # validated before storing; kept in the log
                    logger.error("webhook event %s dropped: %s", _id, exc)
            for server_id, records in by_server.items():
                call_log_upsert_many(server_id=server_id, records=records, path="webhook")
        applied += len(rows)
        batches += 1
    return applied


def webhook_url(*, hook: ServerHook, base_url: str, kind: str) -> str:
    """The exact call URL to paste into the campaign's Start/Dispo/No-Agent URL field."""
    variables = [
        "lead_id",
        "vendor_lead_code",
        "list_id",
        "phone_number",
        "dispo",
        "talk_time",
        "call_id",
        "uniqueid",
        "user",
        "campaign",
        "recording_filename",
        "term_reason",
        "epoch",
    ]
    query = "&".join(f"{v}=--A--{v}--B--" for v in variables)
    return (
        f"VAR{base_url.rstrip('/')}/webhooks/vici/call/?server={hook.server_id}"
        f"&token={hook.token}&kind={kind}&{query}"
    )


# --- sync from the Vici database ------------------------------------------------------------


def _mysql_connect(url: str):
    import pymysql

    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=parts.path.lstrip("/"),
        charset="utf8mb4",
        connect_timeout=10,
        read_timeout=300,
        cursorclass=pymysql.cursors.SSCursor,
    )


VICI_QUERY = """
    SELECT v.uniqueid, v.lead_id, v.list_id, v.campaign_id, v.start_epoch, v.length_in_sec,
           v.status, v.phone_number, v.user, v.term_reason, r.location, 'out'
    FROM vicidial_log v LEFT JOIN recording_log r ON r.vicidial_id = v.uniqueid
    WHERE v.start_epoch >= %s AND v.start_epoch < %s
    UNION ALL
    SELECT c.uniqueid, c.lead_id, c.list_id, c.campaign_id, c.start_epoch, c.length_in_sec,
           c.status, c.phone_number, c.user, c.term_reason, r.location, 'in'
    FROM vicidial_closer_log c
    LEFT JOIN recording_log r ON r.vicidial_id = CAST(c.closecallid AS CHAR)
    WHERE c.start_epoch >= %s AND c.start_epoch < %s
"""


def vici_calls(db_url: str, since: datetime, until: datetime, chunk: int = 5000):
    """Stream the Vici database's calls in [since, until) as CallRecord chunks."""
    low, high = int(since.timestamp()), int(until.timestamp())
    conn = _mysql_connect(db_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(VICI_QUERY, [low, high, low, high])
            while rows := cursor.fetchmany(chunk):
                yield [
                    CallRecord(
                        uniqueid=row[0],
                        vici_lead_id=row[1],
                        list_id=row[2],
                        campaign=row[3] or "",
                        call_time=datetime.fromtimestamp(int(row[0].split(".")[0]), tz=UTC),
                        talk_seconds=row[5] or 0,
                        status=row[6] or "",
                        phone=row[7] or "",
                        agent=row[8] or "",
                        term_reason=row[9] or "",
                        recording_url=row[10] or "",
                        direction=row[11],
                    )
                    for row in rows
                    if row[0]
                ]
    finally:
        conn.close()


PHONE_LOG_CHUNK = 100  # phone numbers per phone_number_log request
SAME_CALL_SECONDS = 5  # a logged call this close to a known one on the same phone is it


def _phones_in_window(server_id: int, since: datetime, until: datetime) -> dict[str, int]:
    """National phone -> our lead id, for leads pushed to or called on this server lately."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.phone, l.id FROM leads_lead l WHERE l.phone <> '' AND l.id IN ("
            "  SELECT lead_id FROM dialer_outboxitem WHERE server_id = %s AND state = 'sent'"
            "  AND sent_at BETWEEN %s AND %s"
            "  UNION SELECT lead_id FROM calllogs_calllog WHERE server_id = %s"
            "  AND lead_id IS NOT NULL AND call_time BETWEEN %s AND %s)",
            [server_id, since, until, server_id, since, until],
        )
        rows = cursor.fetchall()
    phones = {}
    for phone, lead_id in rows:
        try:
            phones[split_phone(phone)[1]] = lead_id
        except Exception:  # noqa: BLE001 - a number Vici cannot hold is not in its logs
            continue
    return phones


def phone_log_calls(server, since: datetime, until: datetime):
    """Calls of a server without database access, through the API's ``phone_number_log``.

    Its rows carry no uniqueid: a row matches a call we already know on the same phone
    within a few seconds (the webhook's), else it gets a stable made-up uniqueid
    ``<epoch>.p<phone>`` so the hourly repeats merge into one row.
    """
    phones = _phones_in_window(server.pk, since, until)
    if not phones:
        return
    client = client_for(server)
    tz = zoneinfo.ZoneInfo(server.timezone or "UTC")
    numbers = sorted(phones)
    for start in range(0, len(numbers), PHONE_LOG_CHUNK):
        chunk = numbers[start : start + PHONE_LOG_CHUNK]
        rows = []
        for row in client.phone_number_log(phone_numbers=chunk, type_="ALL"):
            try:
                at = datetime.fromisoformat(row.call_date).replace(tzinfo=tz).astimezone(UTC)
            except ValueError:
                continue
            if since <= at <= until and row.phone_number in phones:
                rows.append((row, at))
        if not rows:
            continue
        known: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for phone, call_time, uniqueid in CallLog.objects.filter(
            server_id=server.pk,
            phone__in=chunk,
            call_time__range=(
                since - timedelta(seconds=SAME_CALL_SECONDS),
                until + timedelta(seconds=SAME_CALL_SECONDS),
            ),
        ).values_list("phone", "call_time", "uniqueid"):
            known[phone].append((call_time, uniqueid))
        records = []
        for row, at in rows:
            same = [
                (t, u)
                for t, u in known[row.phone_number]
                if abs((t - at).total_seconds()) <= SAME_CALL_SECONDS
            ]
            # A known call keeps its own uniqueid and time (the row's identity).
            call_time, uniqueid = (
                same[0] if same else (at, f"{int(at.timestamp())}.p{row.phone_number}"[:50])
            )
            records.append(
                CallRecord(
                    uniqueid=uniqueid,
                    call_time=call_time,
                    vendor_lead_code=str(phones[row.phone_number]),
                    phone=row.phone_number,
                    list_id=row.list_id or None,
                    agent=row.user,
                    status=row.call_status,
                    talk_seconds=row.length_in_sec,
                    term_reason=row.hangup_reason,
                )
            )
        yield records


def calllogs_sync(*, server_id: int, now: datetime | None = None) -> int:
    """Hourly: read calls since the watermark (minus the overlap) and upsert them."""
    from dialer.models import ViciServer

    now = now or timezone.now()
    server = ViciServer.objects.get(pk=server_id)
    hook, _ = ServerHook.objects.get_or_create(server=server)
    since = (hook.sync_watermark or now - timedelta(days=1)) - timedelta(
        minutes=settings.CALLLOGS_SYNC_OVERLAP_MINUTES
    )
    total = 0
    try:
        chunks = (
            vici_calls(server.db_url, since, now)
            if server.db_url
            else phone_log_calls(server, since, now)
        )
        for chunk in chunks:
            call_log_upsert_many(server_id=server_id, records=chunk, path="sync")
            total += len(chunk)
    except Exception as exc:  # noqa: BLE001 - recorded on the hook for the admin, then raised
        ServerHook.objects.filter(pk=hook.pk).update(last_error=repr(exc)[:2000])
        raise
    ServerHook.objects.filter(pk=hook.pk).update(
        sync_watermark=now, last_sync_at=now, last_sync_rows=total, last_error=""
    )
    return total


# --- nightly reconciliation -----------------------------------------------------------------


def _bucket(r_list, r_status, r_time: datetime) -> str:
    return f"{r_list}|{r_status}|{r_time:%H}"


def calllogs_reconcile(*, server_id: int, day: date) -> ReconciliationRun:
    """Compare one day per list, status and hour; insert missing and fix differing rows."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    from dialer.models import ViciServer

    server = ViciServer.objects.get(pk=server_id)
    ours = {
        u: (lst, st)
        for u, lst, st in CallLog.objects.filter(
            server_id=server_id, call_time__gte=start, call_time__lt=end
        ).values_list("uniqueid", "list_id", "status")
    }
    missing = differing = total = 0
    buckets: dict[str, int] = defaultdict(int)
    for chunk in vici_calls(server.db_url, start, end):
        total += len(chunk)
        repair = []
        for r in chunk:
            mine = ours.get(r.uniqueid)
            if mine is None:
                missing += 1
            elif mine != (r.list_id, r.status):
                differing += 1
            else:
                continue
            buckets[_bucket(r.list_id, r.status, r.call_time)] += 1
            repair.append(r)
        call_log_upsert_many(server_id=server_id, records=repair, path="reconcile")
    after = _drift(server, start, end)
    return ReconciliationRun.objects.create(
        server=server,
        day=day,
        vici_calls=total,
        missing=missing,
        differing=differing,
        drift_after=after,
        buckets=dict(buckets),
    )


def _drift(server, start: datetime, end: datetime) -> int:
    theirs: dict[str, int] = defaultdict(int)
    for chunk in vici_calls(server.db_url, start, end):
        for r in chunk:
            theirs[_bucket(r.list_id, r.status, r.call_time)] += 1
    ours: dict[str, int] = defaultdict(int)
    for lst, status, when in CallLog.objects.filter(
        server=server, call_time__gte=start, call_time__lt=end
    ).values_list("list_id", "status", "call_time"):
        ours[_bucket(lst, status, when)] += 1
    return sum(abs(theirs[k] - ours[k]) for k in set(theirs) | set(ours))
