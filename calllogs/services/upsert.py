"""Upsert and apply: one commutative ``CallRecord`` upsert for every path, then what a
new or changed call means for its lead.

Repeats and any order give the same row: fields merge commutatively (the record with the
higher (status rank, status) wins each field, empty values never overwrite, talk time is
the maximum, paths are OR-ed). Disposition actions and lead events follow only when a
call is new or its status changed, so a repeat writes nothing.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from calllogs.client import CallRecord, call_time_of
from calllogs.models import PATH_NAMES, DispositionMap
from core.locks import advisory_xact_locks, lock_key
from leads.models import Lead, LeadEvent
from leads.services import EventSpec, lead_events_record, lead_status_set, leads_mark_dnc

PATHS = {name: bit for bit, name in PATH_NAMES.items()}
ACTION_STATUS = {
    DispositionMap.Action.SALE: Lead.Status.SALE,
    DispositionMap.Action.NOT_INTERESTED: Lead.Status.NOT_INTERESTED,
    DispositionMap.Action.DNC: Lead.Status.DNC,
    DispositionMap.Action.CALLBACK: Lead.Status.CALLBACK,
    DispositionMap.Action.CONTACTED: Lead.Status.CONTACTED,
}
ACTOR = "vicidial"


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
    path_bit = PATHS[path]
    columns = _columns(records, path_bit)
    keys = sorted({lock_key("call", server_id, r.uniqueid) for r in records})
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        advisory_xact_locks(keys)
        before = _statuses(cursor, server_id, columns[0], columns[1])
        cursor.execute(UPSERT_SQL, [server_id, path_bit, now, now, *columns])
        after = cursor.fetchall()
        _apply(after, before, stats)
    return stats


# --- the upsert ------------------------------------------------------------------------------


def _our_id(vendor_lead_code: str) -> int | None:
    """The lead id a vendor_lead_code names (we push leads with their id there)."""
    code = vendor_lead_code.strip()
    if code.isascii() and code.isdigit() and len(code) <= 18:
        return int(code)
    return None


def _resolve_leads(records: list[CallRecord]) -> dict[str, int | None]:
    """Our lead id per uniqueid: vendor_lead_code first (it is our id), else Vici lead_id."""
    ours = {code for r in records if (code := _our_id(r.vendor_lead_code)) is not None}
    existing = set(Lead.objects.filter(id__in=ours).values_list("id", flat=True)) if ours else set()
    vici_ids = {r.vici_lead_id for r in records if r.vici_lead_id}
    by_vici = (
        dict(Lead.objects.filter(vici_lead_id__in=vici_ids).values_list("vici_lead_id", "id"))
        if vici_ids
        else {}
    )
    result = {}
    for r in records:
        code = _our_id(r.vendor_lead_code)
        result[r.uniqueid] = code if code in existing else by_vici.get(r.vici_lead_id)
    return result


def _columns(records: list[CallRecord], path_bit: int) -> list[list]:
    """The records as the upsert's unnest() columns (uniqueid first, call time second)."""
    finals = dict(DispositionMap.objects.values_list("status", "final"))
    leads = _resolve_leads(records)
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
    return [list(column) for column in zip(*rows, strict=True)]


def _statuses(cursor, server_id: int, uniqueids: list, call_times: list) -> dict[str, str]:
    """The stored status of each of these calls that is stored already."""
    cursor.execute(
        "SELECT uniqueid, status FROM calllogs_calllog WHERE server_id = %s "
        "AND (uniqueid, call_time) IN (SELECT * FROM unnest(%s::varchar[], "
        "%s::timestamptz[]))",
        [server_id, uniqueids, call_times],
    )
    return dict(cursor.fetchall())


def _pick(col: str) -> str:
    """The winner's value of a text column, else the other one's (empty never overwrites)."""
    win = "(EXCLUDED.status_rank, EXCLUDED.status) > (c.status_rank, c.status)"
    first = f"CASE WHEN {win} THEN EXCLUDED.{col} ELSE c.{col} END"
    second = f"CASE WHEN {win} THEN c.{col} ELSE EXCLUDED.{col} END"
    return f"COALESCE(NULLIF({first}, ''), NULLIF({second}, ''), '')"


TEXT_COLUMNS = [
    "phone",
    "campaign",
    "agent",
    "status",
    "term_reason",
    "call_id",
    "recording_url",
    "direction",
]
UPSERT_SQL = f"""
    INSERT INTO calllogs_calllog AS c (server_id, uniqueid, call_time, lead_id,
        vici_lead_id, phone, list_id, campaign, agent, status, status_rank,
        talk_seconds, term_reason, call_id, recording_url, direction, paths,
        created_at, updated_at)
    SELECT %s, u.*, %s, %s, %s FROM unnest(
        %s::varchar[], %s::timestamptz[], %s::bigint[], %s::bigint[], %s::varchar[],
        %s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[], %s::smallint[],
        %s::int[], %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[]) u
    ON CONFLICT (server_id, uniqueid, call_time) DO UPDATE SET
        {", ".join(f"{col} = {_pick(col)}" for col in TEXT_COLUMNS)},
        status_rank = GREATEST(c.status_rank, EXCLUDED.status_rank),
        lead_id = LEAST(c.lead_id, EXCLUDED.lead_id),
        vici_lead_id = LEAST(c.vici_lead_id, EXCLUDED.vici_lead_id),
        list_id = COALESCE(c.list_id, EXCLUDED.list_id),
        talk_seconds = GREATEST(c.talk_seconds, EXCLUDED.talk_seconds),
        paths = c.paths | EXCLUDED.paths,
        updated_at = EXCLUDED.updated_at
    RETURNING uniqueid, lead_id, status, agent, talk_seconds, recording_url, call_time
"""


# --- apply: lead events and disposition actions -----------------------------------------------


def _apply(after: list[tuple], before: dict[str, str], stats: UpsertStats) -> None:
    """Events and disposition actions for calls that are new or changed status."""
    maps = {m.status: m for m in DispositionMap.objects.all()}
    events = []
    by_action: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for uniqueid, lead_id, status, agent, talk, recording, call_time in after:
        if not _is_news(stats, before, uniqueid, status) or lead_id is None:
            continue
        mapping = maps.get(status)
        events.append(
            _call_event(lead_id, uniqueid, status, mapping, agent, talk, recording, call_time)
        )
        if mapping and mapping.action in ACTION_STATUS:
            by_action[mapping.action].append((lead_id, status))
    lead_events_record(events=events)
    for action, items in by_action.items():
        _apply_action(action, sorted({lead_id for lead_id, _ in items}), status=items[0][1])


def _is_news(stats: UpsertStats, before: dict[str, str], uniqueid: str, status: str) -> bool:
    """Count the call as inserted, changed or unchanged; True when it is new or changed."""
    if uniqueid not in before:
        stats.inserted += 1
    elif before[uniqueid] != status:
        stats.changed += 1
    else:
        stats.unchanged += 1
        return False
    return True


def _call_event(
    lead_id: int,
    uniqueid: str,
    status: str,
    mapping: DispositionMap | None,
    agent: str,
    talk: int,
    recording: str,
    call_time: datetime,
) -> EventSpec:
    """The lead's "called" (no status yet) or "dispositioned" event of one call."""
    name = mapping.name if mapping else status
    message = f"Call {status or 'started'}" + (f" ({name})" if status else "")
    if agent:
        message += f" by agent {agent}"
    if talk:
        message += f", talk {talk} s"
    return EventSpec(
        lead_id=lead_id,
        kind=LeadEvent.Kind.DISPOSITIONED if status else LeadEvent.Kind.CALLED,
        message=message,
        actor=ACTOR,
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


def _apply_action(action: str, lead_ids: list[int], *, status: str) -> None:
    """What a disposition's action does to its leads (``status``: the Vici status seen).
    The dialer and broadcast react to the lead's new status (sequences stop on DNC and
    SALE); do-not-contact means what ``leads_mark_dnc`` says it means."""
    reason = f"VICIdial disposition {status}"
    if action == DispositionMap.Action.DNC:
        leads_mark_dnc(lead_ids=lead_ids, reason=reason, actor=ACTOR, source="dnc")
        return
    lead_status_set(lead_ids=lead_ids, status=ACTION_STATUS[action], reason=reason, actor=ACTOR)
