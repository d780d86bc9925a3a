"""What new or changed calls mean for their leads: a history event each, do-not-contact at
once, and the lead's status from its **latest call by call time**.

The status follows the disposition of the lead's latest call that carries one (a sale, a
callback, not interested, ...), whatever order the calls arrive in, however they are
batched and whichever path brings them: a call that arrives late, older than one already
applied, changes nothing. It is computed from the stored calls, under a per-lead lock held
from before the upsert to the commit, so two transactions cannot both think they hold the
latest call. Do-not-contact is never undone by a later call: a DNC disposition marks the
lead at once (``leads_mark_dnc``) and a lead that is ``dnc`` or ``suppressed`` keeps it.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from calllogs.models import DispositionMap
from leads.models import Lead, LeadEvent
from leads.services import EventSpec, lead_events_record, lead_status_set, leads_mark_dnc

ACTION_STATUS = {
    DispositionMap.Action.SALE: Lead.Status.SALE,
    DispositionMap.Action.NOT_INTERESTED: Lead.Status.NOT_INTERESTED,
    DispositionMap.Action.DNC: Lead.Status.DNC,
    DispositionMap.Action.CALLBACK: Lead.Status.CALLBACK,
    DispositionMap.Action.CONTACTED: Lead.Status.CONTACTED,
}
KEEP = (Lead.Status.DNC, Lead.Status.SUPPRESSED)  # no call disposition moves a lead out
ACTOR = "vicidial"

LATEST_SQL = """
    SELECT DISTINCT ON (c.lead_id) c.lead_id, c.server_id, c.uniqueid, c.status
    FROM calllogs_calllog c WHERE c.lead_id = ANY(%s) AND c.status = ANY(%s)
    ORDER BY c.lead_id, c.call_time DESC, c.server_id DESC, c.uniqueid DESC
"""


@dataclass
class Call:
    """A call as the upsert returned it."""

    uniqueid: str
    lead_id: int | None
    status: str
    agent: str
    talk: int
    recording: str
    call_time: datetime


def calls_apply(*, server_id: int, calls: list[Call]) -> None:
    """Events, do-not-contact and lead statuses for these new or changed calls."""
    if not any(c.lead_id for c in calls):
        return
    maps = {m.status: m for m in DispositionMap.objects.all()}
    lead_events_record(
        events=[_call_event(c, c.lead_id, maps.get(c.status)) for c in calls if c.lead_id]
    )
    dnc: dict[str, set[int]] = defaultdict(set)  # Vici status -> leads: do not contact
    for c in calls:
        if c.lead_id and _action(maps, c.status) == DispositionMap.Action.DNC:
            dnc[c.status].add(c.lead_id)
    for status, lead_ids in sorted(dnc.items()):
        leads_mark_dnc(
            lead_ids=sorted(lead_ids),
            reason=f"VICIdial disposition {status}",
            actor=ACTOR,
            source="dnc",
        )
    _follow_latest_calls(server_id, calls, maps)


def _action(maps: dict[str, DispositionMap], status: str) -> str:
    mapping = maps.get(status)
    return mapping.action if mapping and mapping.action in ACTION_STATUS else ""


def _follow_latest_calls(
    server_id: int, calls: list[Call], maps: dict[str, DispositionMap]
) -> None:
    """Set each lead's status from its latest call, when that call is one of these."""
    news: dict[int, set[str]] = defaultdict(set)
    for c in calls:
        if c.lead_id is not None and _action(maps, c.status):
            news[c.lead_id].add(c.uniqueid)
    if not news:
        return
    bearing = sorted(status for status in maps if _action(maps, status))
    with connection.cursor() as cursor:
        cursor.execute(LATEST_SQL, [sorted(news), bearing])
        latest = cursor.fetchall()
    kept = set(Lead.objects.filter(id__in=list(news), status__in=KEEP).values_list("id", flat=True))
    targets: dict[str, list[int]] = defaultdict(list)  # Vici status -> leads it now decides
    for lead_id, call_server, uniqueid, status in latest:
        mine = call_server == server_id and uniqueid in news[lead_id]
        if mine and lead_id not in kept and _action(maps, status) != DispositionMap.Action.DNC:
            targets[status].append(lead_id)
    for status, lead_ids in sorted(targets.items()):
        lead_status_set(
            lead_ids=sorted(lead_ids),
            status=ACTION_STATUS[DispositionMap.Action(maps[status].action)],
            reason=f"VICIdial disposition {status}",
            actor=ACTOR,
        )


def _call_event(call: Call, lead_id: int, mapping: DispositionMap | None) -> EventSpec:
    """The lead's "called" (no status yet) or "dispositioned" event of one call."""
    status = call.status
    name = mapping.name if mapping else status
    message = f"Call {status or 'started'}" + (f" ({name})" if status else "")
    if call.agent:
        message += f" by agent {call.agent}"
    if call.talk:
        message += f", talk {call.talk} s"
    return EventSpec(
        lead_id=lead_id,
        kind=LeadEvent.Kind.DISPOSITIONED if status else LeadEvent.Kind.CALLED,
        message=message,
        actor=ACTOR,
        at=call.call_time,
        data={
            "uniqueid": call.uniqueid,
            "status": status,
            "status_name": name,
            "agent": call.agent,
            "talk_seconds": call.talk,
            "recording_url": call.recording,
        },
    )
