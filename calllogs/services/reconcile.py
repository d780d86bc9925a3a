"""Nightly reconciliation: one day of the Vici database against our call logs, per list,
status and hour; missing and differing calls go through the one upsert.

Both sides count a call once (its rows in VICIdial, such as both legs of a transfer or a
restarted recording, merge as the upsert merges them) and place it by one time, its
uniqueid's (dial time), so a repair run leaves no drift and the next run reports zero.
A server without a database cannot be reconciled call by call (``phone_number_log`` has no
uniqueid): its hourly sync is all there is, and the admin says so.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import groupby

from django.utils import timezone

from calllogs import errors
from calllogs.client import CallRecord, ViciDatabaseClient
from calllogs.models import CallLog, DispositionMap, ReconciliationRun, ServerHook
from calllogs.services.sync import hook_record_error, server_paused
from calllogs.services.upsert import call_log_upsert_many, merged_list_and_status
from core.errors import ApplicationError, ClientError
from dialer.models import ViciServer

REPAIR_CHUNK = 5000
NOT_RECONCILABLE = (
    "Not reconcilable: no database URL (phone_number_log has no uniqueid to match calls "
    "one by one); the hourly sync reads its calls."
)


def _bucket(list_id: int | None, status: str, when: datetime) -> str:
    return f"{list_id}|{status}|{when.astimezone(UTC):%H}"


def calllogs_reconcile(*, server_id: int, day: date) -> ReconciliationRun | None:
    """Compare one day per list, status and hour; insert missing and fix differing rows.
    None when the server cannot be read now (no database, paused: noted on its hook)."""
    server = ViciServer.objects.get(pk=server_id)
    hook, _ = ServerHook.objects.get_or_create(server=server)
    if not server.db_url:
        raise ApplicationError(NOT_RECONCILABLE, code=errors.NOT_RECONCILABLE)
    if server_paused(server, timezone.now()):
        hook_record_error(
            hook, server, f"Not reconciled: the server is paused ({server.paused_reason})"
        )
        return None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    try:
        found = _compare_and_repair(server, start, end)
    except ClientError as exc:
        text = hook_record_error(hook, server, f"Reconciliation failed: {exc.message}")
        raise ClientError(text, retryable=exc.retryable) from None
    theirs, missing, differing, buckets = found
    return ReconciliationRun.objects.create(
        server=server,
        day=day,
        vici_calls=len(theirs),
        missing=missing,
        differing=differing,
        drift_after=_drift(server, start, end, theirs),
        buckets=dict(buckets),
    )


def _compare_and_repair(
    server: ViciServer, start: datetime, end: datetime
) -> tuple[dict[str, str], int, int, dict[str, int]]:
    """Each Vici call against ours: repair what is missing or differs. Returns each Vici
    call's bucket, the missing and differing counts and the drift per bucket found."""
    finals = dict(DispositionMap.objects.values_list("status", "final"))
    ours = {
        u: (lst, st)
        for u, lst, st in CallLog.objects.filter(
            server=server, call_time__gte=start, call_time__lt=end
        ).values_list("uniqueid", "list_id", "status")
    }
    theirs: dict[str, str] = {}
    missing = differing = 0
    buckets: dict[str, int] = defaultdict(int)
    repair: list[CallRecord] = []
    for group in _calls(ViciDatabaseClient(server.db_url).calls(start, end)):
        expected = merged_list_and_status(group, finals, "reconcile")
        uniqueid = group[0].uniqueid
        theirs[uniqueid] = _bucket(*expected, group[0].call_time or start)
        mine = ours.get(uniqueid)
        if mine == expected:
            continue
        missing, differing = missing + (mine is None), differing + (mine is not None)
        buckets[theirs[uniqueid]] += 1
        repair.extend(group)
        if len(repair) >= REPAIR_CHUNK:
            call_log_upsert_many(server_id=server.pk, records=repair, path="reconcile")
            repair = []
    call_log_upsert_many(server_id=server.pk, records=repair, path="reconcile")
    return theirs, missing, differing, buckets


def _calls(chunks: Iterable[list[CallRecord]]) -> Iterator[list[CallRecord]]:
    """The rows of each call together (they come in uniqueid order)."""
    rows = (record for chunk in chunks for record in chunk)
    for _, group in groupby(rows, key=lambda r: r.uniqueid):
        yield list(group)


def _drift(server: ViciServer, start: datetime, end: datetime, theirs: dict[str, str]) -> int:
    """Calls per (list, status, hour) that still differ between Vici and us."""
    vici: dict[str, int] = defaultdict(int)
    for bucket in theirs.values():
        vici[bucket] += 1
    ours: dict[str, int] = defaultdict(int)
    for lst, status, when in CallLog.objects.filter(
        server=server, call_time__gte=start, call_time__lt=end
    ).values_list("list_id", "status", "call_time"):
        ours[_bucket(lst, status, when)] += 1
    return sum(abs(vici[k] - ours[k]) for k in set(vici) | set(ours))
