"""A lead's status follows the disposition of its latest call by call time, whatever order
the calls arrive in, however they are batched and whichever path brings them."""

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from calllogs import services
from calllogs.models import CallLog, ServerHook
from calllogs.services import CallRecord
from leads.models import Lead, Suppression
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db

DAY = (timezone.now() - timedelta(days=2)).date()
PATHS = ["webhook", "sync", "reconcile"]


def at(hour: int, minute: int, second: int = 0) -> str:
    """A uniqueid of a call dialed at this time on DAY."""
    when = datetime(DAY.year, DAY.month, DAY.day, hour, minute, second, tzinfo=UTC)
    return f"{int(when.timestamp())}.{hour * 100 + minute}"


@pytest.fixture
def leads(workspace, dispositions):
    a, b, c, d = make_leads(workspace, 4)
    return {"xfer_then_ni": a, "sale_then_ni": b, "dnc_then_sale": c, "ni_then_na": d}


def calls_of(leads) -> list[CallRecord]:
    def call(lead, uniqueid, status):
        return CallRecord(uniqueid=uniqueid, vendor_lead_code=str(leads[lead]), status=status)

    return [
        call("xfer_then_ni", at(8, 55), "XFER"),
        call("xfer_then_ni", at(23, 39), "NI"),
        call("sale_then_ni", at(17, 4), "SALE"),
        call("sale_then_ni", at(23, 59), "NI"),
        call("sale_then_ni", at(9, 0), "CALLBK"),
        call("dnc_then_sale", at(10, 0), "DNC"),
        call("dnc_then_sale", at(12, 0), "SALE"),
        call("ni_then_na", at(11, 0), "NI"),
        call("ni_then_na", at(15, 0), "NA"),  # a later attempt without a disposition
    ]


EXPECTED = {
    "xfer_then_ni": "not_interested",
    "sale_then_ni": "not_interested",
    "dnc_then_sale": "dnc",
    "ni_then_na": "not_interested",
}


def reset(leads) -> None:
    CallLog.objects.all().delete()
    Suppression.objects.all().delete()
    Lead.objects.filter(pk__in=leads.values()).update(status="routed")


def statuses(leads) -> dict[str, str]:
    by_id = dict(Lead.objects.filter(pk__in=leads.values()).values_list("id", "status"))
    return {name: by_id[lead_id] for name, lead_id in leads.items()}


def split(records: list, sizes: list[int]) -> list[list]:
    batches, start = [], 0
    while start < len(records):
        size = sizes[len(batches) % len(sizes)]
        batches.append(records[start : start + size])
        start += size
    return batches


@pytest.mark.parametrize("sizes", [[1], [2], [4, 1], [9]])
@pytest.mark.parametrize("seed", range(6))
def test_shuffled_orders_batches_and_paths_end_at_the_latest_call(leads, call_server, sizes, seed):
    shuffle = random.Random(seed)
    records = calls_of(leads)
    shuffle.shuffle(records)
    reset(leads)
    for n, batch in enumerate(split(records, sizes)):
        path = PATHS[(n + seed) % 3]
        services.call_log_upsert_many(server_id=call_server.pk, records=batch, path=path)
    assert statuses(leads) == EXPECTED, (seed, sizes, [r.status for r in records])


def test_the_same_calls_again_by_other_paths_change_nothing(leads, call_server):
    records = calls_of(leads)
    for path in PATHS:
        services.call_log_upsert_many(server_id=call_server.pk, records=records[::-1], path=path)
        assert statuses(leads) == EXPECTED
    # a late repeat of an older call after a manual change does not undo the change
    Lead.objects.filter(pk=leads["xfer_then_ni"]).update(status="callback")
    late = [r for r in records if r.status == "XFER"]
    late[0].talk_seconds = 99  # news for the call row, an older call for the lead
    services.call_log_upsert_many(server_id=call_server.pk, records=late, path="sync")
    assert Lead.objects.get(pk=leads["xfer_then_ni"]).status == "callback"


def test_webhook_sync_and_reconciliation_together_in_either_order(
    client, leads, call_server, vici_db
):
    lead = leads["xfer_then_ni"]
    vici_db.add_call(uniqueid=at(23, 39), lead_id=31, status="NI", vendor_lead_code=str(lead))
    vici_db.add_call(uniqueid=at(8, 55), lead_id=31, status="XFER", vendor_lead_code=str(lead))

    def webhook():  # the earlier call, by its Dispo URL
        query = {"server": call_server.pk, "token": "tok-123", "kind": "dispo"}
        query |= {"uniqueid": at(8, 55), "vendor_lead_code": str(lead), "dispo": "XFER"}
        assert client.get("/webhooks/vici/call/", query).status_code == 200
        services.webhook_events_drain(batch_size=1)

    def sync():
        ServerHook.objects.filter(server=call_server).update(
            sync_watermark=timezone.now() - timedelta(days=3)
        )
        services.calllogs_sync(server_id=call_server.pk)

    def reconcile():
        services.calllogs_reconcile(server_id=call_server.pk, day=DAY)

    for order in ((webhook, sync, reconcile), (sync, webhook, reconcile), (reconcile, webhook)):
        reset(leads)
        for step in order:
            step()
        assert Lead.objects.get(pk=lead).status == "not_interested", [s.__name__ for s in order]


@pytest.mark.django_db(transaction=True)
def test_two_transactions_at_once_still_end_at_the_latest_call(workspace, call_server):
    [lead_id] = make_leads(workspace, 1)
    older = CallRecord(uniqueid=at(8, 55), vendor_lead_code=str(lead_id), status="XFER")
    newer = CallRecord(uniqueid=at(23, 39), vendor_lead_code=str(lead_id), status="NI")
    for _ in range(4):
        CallLog.objects.all().delete()
        Lead.objects.filter(pk=lead_id).update(status="routed")
        barrier = threading.Barrier(2)
        errors = []

        def send(record, path, barrier=barrier, errors=errors):
            try:
                barrier.wait(timeout=10)
                services.call_log_upsert_many(server_id=call_server.pk, records=[record], path=path)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                connection.close()

        threads = [
            threading.Thread(target=send, args=(newer, "webhook")),
            threading.Thread(target=send, args=(older, "sync")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not errors
        assert Lead.objects.get(pk=lead_id).status == "not_interested"
