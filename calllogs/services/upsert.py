"""One commutative ``CallRecord`` upsert for every path; what its news mean for the leads is
``calllogs.services.apply``.

Repeats and any order give the same row: fields merge commutatively (the record with the
higher (status rank, status) wins each field, empty values never overwrite, talk time is
the maximum, paths are OR-ed, the lead found by the strongest match wins). The nightly
reconciliation reads VICIdial's own log of a finished day, so its status outranks what
the call URLs and the hourly sync saw. Two records of one call in one batch are applied in
turn (not "last wins"), so how events are batched does not matter either. Lead events and
statuses follow only when a call is new, changed status or changed lead.
"""

from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from calllogs.client import CallRecord, call_time_of
from calllogs.models import PATH_NAMES, DispositionMap
from calllogs.services.apply import ACTION_STATUS, Call, calls_apply
from calllogs.services.resolve import MATCH_VICI, leads_resolve
from core.locks import advisory_xact_locks, lock_key
from core.safe_url import http_url_or_empty

PATHS = {name: bit for bit, name in PATH_NAMES.items()}
# Added to a status's rank (final 10, transient 5, none 0) per path: the reconciliation's
# status wins over every other path's.
PATH_WEIGHT = {"webhook": 1, "sync": 2, "reconcile": 20}

Row = tuple[Any, ...]  # one call as the upsert's unnest() columns take it

__all__ = [
    "ACTION_STATUS",
    "PATHS",
    "UpsertStats",
    "call_log_upsert_many",
    "merged_list_and_status",
]


@dataclass
class UpsertStats:
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0


def call_log_upsert_many(*, server_id: int, records: list[CallRecord], path: str) -> UpsertStats:
    """Insert or merge calls by (server, uniqueid); apply what changed to their leads."""
    stats = UpsertStats()
    if not records:
        return stats
    rows = _rows(server_id, records, path)
    with transaction.atomic(), connection.cursor() as cursor:
        before = _stored(cursor, server_id, rows)
        leads = {row[2] for row in rows if row[2]} | {lead for _, lead in before.values() if lead}
        advisory_xact_locks(
            [lock_key("call", server_id, row[0]) for row in rows]
            + [lock_key("lead-calls", lead) for lead in leads]
        )
        before = _stored(cursor, server_id, rows)  # again: now that the calls are ours
        after: dict[str, Call] = {}
        for batch in _rounds(rows):  # a call twice in the batch: once per statement
            now = timezone.now()
            cursor.execute(UPSERT_SQL, [server_id, PATHS[path], now, now, *_columns(batch)])
            after.update({r[0]: Call(*r) for r in cursor.fetchall()})
        late = {c.lead_id for c in after.values() if c.lead_id and c.lead_id not in leads}
        advisory_xact_locks(lock_key("lead-calls", lead) for lead in late)  # rare: see apply
        news = [c for c in after.values() if _is_news(stats, before.get(c.uniqueid), c)]
        calls_apply(server_id=server_id, calls=news)
    return stats


def stored_status(status: str) -> str:
    return status.strip().upper()[:6]


def status_rank(status: str, finals: dict[str, bool], path: str) -> int:
    """How strongly a path's status claims the call (the higher (rank, status) wins)."""
    final = finals.get(status, bool(status))  # unknown campaign statuses are final
    return (10 if final else (5 if status else 0)) + PATH_WEIGHT[path]


def merged_list_and_status(
    records: list[CallRecord], finals: dict[str, bool], path: str
) -> tuple[int | None, str]:
    """The (list id, status) one path's records of one call merge into (as the upsert
    merges them)."""
    ranked = sorted(
        records,
        key=lambda r: (status_rank(stored_status(r.status), finals, path), stored_status(r.status)),
    )
    lists = [r.list_id for r in reversed(ranked) if r.list_id is not None]
    return (lists[0] if lists else None), stored_status(ranked[-1].status)


def _rows(server_id: int, records: list[CallRecord], path: str) -> list[Row]:
    """The records as the upsert's rows (uniqueid, call time and lead first)."""
    finals = dict(DispositionMap.objects.values_list("status", "final"))
    leads = leads_resolve(server_id=server_id, records=records)
    rows = []
    for r, (lead_id, match) in zip(records, leads, strict=True):
        status = stored_status(r.status)
        rank = status_rank(status, finals, path)
        rows.append(
            (
                r.uniqueid,
                r.call_time or call_time_of(r.uniqueid),
                lead_id,
                match,
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
                http_url_or_empty(r.recording_url)[:500],
                r.direction,
            )
        )
    return rows


def _rounds(rows: list[Row]) -> list[list[Row]]:
    """Rows in statements that hold each call once (ON CONFLICT cannot touch a row twice)."""
    rounds: list[list[Row]] = []
    seen: dict[str, int] = {}
    for row in rows:
        n = seen.get(row[0], 0)
        seen[row[0]] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(row)
    return rounds


def _columns(rows: list[Row]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


def _stored(cursor: Any, server_id: int, rows: list[Row]) -> dict[str, tuple[str, int | None]]:
    """The stored (status, lead) of each of these calls that is stored already."""
    cursor.execute(
        "SELECT uniqueid, status, lead_id FROM calllogs_calllog WHERE server_id = %s "
        "AND (uniqueid, call_time) IN (SELECT * FROM unnest(%s::varchar[], "
        "%s::timestamptz[]))",
        [server_id, [r[0] for r in rows], [r[1] for r in rows]],
    )
    return {uniqueid: (status, lead) for uniqueid, status, lead in cursor.fetchall()}


def _is_news(stats: UpsertStats, before: tuple[str, int | None] | None, call: Call) -> bool:
    """Count the call as inserted, changed or unchanged; True when it is new or changed
    (its status, or whose call it is)."""
    if before is None:
        stats.inserted += 1
    elif before != (call.status, call.lead_id):
        stats.changed += 1
    else:
        stats.unchanged += 1
        return False
    return True


def _pick(col: str) -> str:
    """The winner's value of a column, else the other one's (empty never overwrites)."""
    win = "(EXCLUDED.status_rank, EXCLUDED.status) > (c.status_rank, c.status)"
    first = f"CASE WHEN {win} THEN EXCLUDED.{col} ELSE c.{col} END"
    second = f"CASE WHEN {win} THEN c.{col} ELSE EXCLUDED.{col} END"
    if col == "list_id":
        return f"COALESCE({first}, {second})"
    return f"COALESCE(NULLIF({first}, ''), NULLIF({second}, ''), '')"


PICKED = [
    "phone",
    "list_id",
    "campaign",
    "agent",
    "status",
    "term_reason",
    "call_id",
    "recording_url",
    "direction",
]
# A row stored before lead_match existed has 0 there but a lead: count it a Vici-id match.
STORED_MATCH = (
    f"(CASE WHEN c.lead_match > 0 OR c.lead_id IS NULL THEN c.lead_match ELSE {MATCH_VICI} END)"  # noqa: E501
)
UPSERT_SQL = f"""
    INSERT INTO calllogs_calllog AS c (server_id, uniqueid, call_time, lead_id, lead_match,
        vici_lead_id, phone, list_id, campaign, agent, status, status_rank,
        talk_seconds, term_reason, call_id, recording_url, direction, paths,
        created_at, updated_at)
    SELECT %s, u.*, %s, %s, %s FROM unnest(
        %s::varchar[], %s::timestamptz[], %s::bigint[], %s::smallint[], %s::bigint[],
        %s::varchar[], %s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[],
        %s::smallint[], %s::int[], %s::varchar[], %s::varchar[], %s::varchar[],
        %s::varchar[]) u
    ON CONFLICT (server_id, uniqueid, call_time) DO UPDATE SET
        {", ".join(f"{col} = {_pick(col)}" for col in PICKED)},
        status_rank = GREATEST(c.status_rank, EXCLUDED.status_rank),
        lead_id = CASE
            WHEN EXCLUDED.lead_match > {STORED_MATCH} THEN EXCLUDED.lead_id
            WHEN EXCLUDED.lead_match < {STORED_MATCH} THEN c.lead_id
            ELSE LEAST(c.lead_id, EXCLUDED.lead_id) END,
        lead_match = GREATEST({STORED_MATCH}, EXCLUDED.lead_match),
        vici_lead_id = LEAST(c.vici_lead_id, EXCLUDED.vici_lead_id),
        talk_seconds = GREATEST(c.talk_seconds, EXCLUDED.talk_seconds),
        paths = c.paths | EXCLUDED.paths,
        updated_at = EXCLUDED.updated_at
    RETURNING uniqueid, lead_id, status, agent, talk_seconds, recording_url, call_time
"""
