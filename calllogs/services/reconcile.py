"""Nightly reconciliation: one day of the Vici database against our call logs, per list,
status and hour; missing and differing calls go through the one upsert."""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from calllogs.client import ViciDatabaseClient
from calllogs.models import CallLog, ReconciliationRun
from calllogs.services.upsert import call_log_upsert_many
from dialer.models import ViciServer


def _bucket(r_list, r_status, r_time: datetime) -> str:
    return f"{r_list}|{r_status}|{r_time:%H}"


def calllogs_reconcile(*, server_id: int, day: date) -> ReconciliationRun:
    """Compare one day per list, status and hour; insert missing and fix differing rows."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    server = ViciServer.objects.get(pk=server_id)
    ours = {
        u: (lst, st)
        for u, lst, st in CallLog.objects.filter(
            server_id=server_id, call_time__gte=start, call_time__lt=end
        ).values_list("uniqueid", "list_id", "status")
    }
    missing = differing = total = 0
    buckets: dict[str, int] = defaultdict(int)
    for chunk in ViciDatabaseClient(server.db_url).calls(start, end):
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


def _drift(server: ViciServer, start: datetime, end: datetime) -> int:
    """Calls per (list, status, hour) that still differ between Vici and us."""
    theirs: dict[str, int] = defaultdict(int)
    for chunk in ViciDatabaseClient(server.db_url).calls(start, end):
        for r in chunk:
            theirs[_bucket(r.list_id, r.status, r.call_time)] += 1
    ours: dict[str, int] = defaultdict(int)
    for lst, status, when in CallLog.objects.filter(
        server=server, call_time__gte=start, call_time__lt=end
    ).values_list("list_id", "status", "call_time"):
        ours[_bucket(lst, status, when)] += 1
    return sum(abs(theirs[k] - ours[k]) for k in set(theirs) | set(ours))
