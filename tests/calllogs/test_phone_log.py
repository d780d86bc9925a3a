"""Servers without database access: the hourly sync reads phone_number_log instead."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from calllogs import services
from calllogs.models import CallLog, ServerHook
from dialer import services as dialer_services
from dialer.models import ViciList
from leads.models import Lead
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushed(workspace, server, vici, dispositions):
    """A lead pushed to the Vici double (no db_url on this server)."""
    vici_list = ViciList.objects.create(
        server=server, list_id=1001, campaign_id="TESTCAMP", name="Solar"
    )
    [lead_id] = make_leads(workspace, 1)
    dialer_services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=vici_list.pk)
    assert dialer_services.outbox_drain(server_id=server.pk).sent == 1
    return Lead.objects.get(pk=lead_id)


def log_call(vici, lead, at: datetime, status="SALE", server_tz=UTC):
    vici.state.calls.append(
        {
            "phone_number": lead.phone[2:],
            "call_date": at.astimezone(server_tz).strftime("%Y-%m-%d %H:%M:%S"),
            "list_id": 1001,
            "length_in_sec": 47,
            "lead_status": status,
            "term_reason": "AGENT",
            "status": status,
            "source_id": "leadbrain",
            "user": "agent5",
        }
    )


def test_calls_come_in_through_phone_number_log(server, pushed, vici):
    at = (timezone.now() - timedelta(minutes=10)).replace(microsecond=0)
    log_call(vici, pushed, at)
    log_call(vici, pushed, at - timedelta(days=3), status="NA")  # outside the window
    assert services.calllogs_sync(server_id=server.pk) == 1
    call = CallLog.objects.get()
    assert (call.lead_id, call.status, call.talk_seconds, call.agent, call.call_time) == (
        pushed.pk,
        "SALE",
        47,
        "agent5",
        at,
    )
    pushed.refresh_from_db()
    assert pushed.status == "sale"
    ServerHook.objects.filter(server=server).update(sync_watermark=None)
    assert services.calllogs_sync(server_id=server.pk) == 1
    assert CallLog.objects.count() == 1  # the hourly repeat merges into the same row


def test_a_webhook_call_and_its_phone_log_row_are_one_row(server, pushed, vici):
    at = (timezone.now() - timedelta(minutes=5)).replace(microsecond=0)
    uniqueid = f"{int(at.timestamp()) - 1}.4711"  # the channel started a second earlier
    services.call_log_upsert_many(
        server_id=server.pk,
        path="webhook",
        records=[
            services.CallRecord(
                uniqueid=uniqueid,
                vendor_lead_code=str(pushed.pk),
                phone=pushed.phone[2:],
                status="",
            )
        ],
    )
    log_call(vici, pushed, at)
    services.calllogs_sync(server_id=server.pk)
    call = CallLog.objects.get()
    assert call.uniqueid == uniqueid and call.status == "SALE"
    assert call.path_names == ["webhook", "sync"]


def test_the_servers_time_zone_reads_call_dates(server, pushed, vici):
    from zoneinfo import ZoneInfo

    server.timezone = "America/New_York"
    server.save()
    at = (timezone.now() - timedelta(minutes=20)).replace(microsecond=0)
    log_call(vici, pushed, at, server_tz=ZoneInfo("America/New_York"))
    services.calllogs_sync(server_id=server.pk)
    assert CallLog.objects.get().call_time == at


def test_two_of_our_leads_on_one_phone_are_told_apart_by_the_list(
    server, vici, workspace, partner_workspace, dispositions
):
    first = ViciList.objects.create(server=server, list_id=1001, campaign_id="C", name="A")
    second = ViciList.objects.create(server=server, list_id=1002, campaign_id="C", name="B")
    [a] = make_leads(workspace, 1)
    [b] = make_leads(partner_workspace, 1)
    phone = Lead.objects.get(pk=a).phone
    Lead.objects.filter(pk=b).update(phone=phone)
    dialer_services.outbox_enqueue_add(lead_ids=[a], vici_list_id=first.pk)
    dialer_services.outbox_enqueue_add(lead_ids=[b], vici_list_id=second.pk)
    assert dialer_services.outbox_drain(server_id=server.pk).sent == 2
    at = (timezone.now() - timedelta(minutes=10)).replace(microsecond=0)
    log_call(vici, Lead.objects.get(pk=a), at, status="SALE")  # list 1001
    other = dict(vici.state.calls[-1], list_id=1002, status="NI", lead_status="NI")
    other["call_date"] = (at - timedelta(minutes=3)).strftime("%Y-%m-%d %H:%M:%S")
    vici.state.calls.append(other)
    services.calllogs_sync(server_id=server.pk)
    calls = dict(CallLog.objects.values_list("status", "lead_id"))
    assert calls == {"SALE": a, "NI": b}
    assert dict(Lead.objects.filter(pk__in=[a, b]).values_list("id", "status")) == {
        a: "sale",
        b: "not_interested",
    }


def test_a_phone_log_row_that_fits_two_leads_gets_none(
    server, vici, workspace, partner_workspace, dispositions
):
    first = ViciList.objects.create(server=server, list_id=1001, campaign_id="C", name="A")
    second = ViciList.objects.create(server=server, list_id=1002, campaign_id="C", name="B")
    a, b = make_leads(workspace, 1) + make_leads(partner_workspace, 1)
    phone = Lead.objects.get(pk=a).phone
    Lead.objects.filter(pk=b).update(phone=phone)
    # VICIdial keeps one lead per phone in a list (the duplicate check), so the two are
    # pushed to two lists, then both are said to be in the first (moved there by hand).
    dialer_services.outbox_enqueue_add(lead_ids=[a], vici_list_id=first.pk)
    dialer_services.outbox_enqueue_add(lead_ids=[b], vici_list_id=second.pk)
    assert dialer_services.outbox_drain(server_id=server.pk).sent == 2
    Lead.objects.filter(pk__in=[a, b]).update(vici_list_number=1001)  # both in the one list
    log_call(vici, Lead.objects.get(pk=a), timezone.now() - timedelta(minutes=10))
    services.calllogs_sync(server_id=server.pk)
    assert CallLog.objects.get().lead_id is None  # not a guess
    assert not Lead.objects.filter(pk__in=[a, b], status="sale").exists()
