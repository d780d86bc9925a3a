import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from dialer import services
from dialer.models import OutboxItem, ViciServer
from dialer.services.pipeline import items_claim
from dialer.services.record import outcomes_record
from dialer.services.send import item_send
from leads.models import Lead, LeadEvent
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db


def drain(server, **kwargs):
    return services.outbox_drain(server_id=server.pk, **kwargs)


def test_enqueue_is_idempotent(workspace, vici_list):
    ids = make_leads(workspace, 3)
    assert services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk) == 3
    assert services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk) == 0
    assert OutboxItem.objects.count() == 3


def test_drain_pushes_records_ids_and_events(workspace, server, vici_list, vici):
    ids = make_leads(workspace, 5, first_name="Ann+Marie")
    services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk)
    stats = drain(server)
    assert stats.sent == 5
    assert len(vici.state.leads) == 5
    for lead in Lead.objects.filter(id__in=ids):
        vici_row = vici.state.leads[lead.vici_lead_id]
        assert vici_row["vendor_lead_code"] == str(lead.pk)
        assert vici_row["phone_number"] == lead.phone[2:]
        assert lead.vici_list_number == 1001
    assert set(OutboxItem.objects.values_list("state", flat=True)) == {"sent"}
    event = LeadEvent.objects.filter(lead_id=ids[0], kind="pushed").get()
    assert event.message.startswith("Pushed to VICIdial list 1001 as lead ")
    # enqueueing the same add again after it was sent does nothing
    assert services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk) == 0


def test_move_uses_the_stored_vici_lead_id(workspace, server, vici_list, other_list, vici):
    [lead_id] = make_leads(workspace, 1)
    services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=vici_list.pk)
    drain(server)
    services.outbox_enqueue_move(lead_ids=[lead_id], vici_list_id=other_list.pk)
    drain(server)
    lead = Lead.objects.get(pk=lead_id)
    assert vici.state.leads[lead.vici_lead_id]["list_id"] == 1002
    assert lead.vici_list_number == 1002
    move_request = vici.state.requests[-1]
    assert move_request["search_method"] == "LEAD_ID"
    assert move_request["lead_id"] == str(lead.vici_lead_id)


def test_crash_between_vici_success_and_our_commit_adds_no_duplicate(
    workspace, server, vici_list, vici
):
    [lead_id] = make_leads(workspace, 1)
    services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=vici_list.pk)
    vici.drop_after_apply(1)  # Vici stores the lead, our side never hears back
    first = drain(server)
    assert first.sent == 0 and first.retrying == 1
    assert len(vici.state.leads) == 1
    # the lost answer is retried later (also after a crashed drain's lease runs out)
    OutboxItem.objects.update(next_attempt_at=timezone.now())
    second = drain(server)
    assert second.sent == 1
    assert len(vici.state.leads) == 1  # no duplicate in VICIdial
    lead = Lead.objects.get(pk=lead_id)
    assert lead.vici_lead_id == next(iter(vici.state.leads))
    assert "Already in VICIdial" in LeadEvent.objects.get(lead_id=lead_id, kind="pushed").message


def test_a_crashed_drain_leaves_items_that_come_back_after_the_lease(
    workspace, server, vici_list, vici
):
    ids = make_leads(workspace, 2)
    services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk)
    claimed = items_claim(server.pk, 10)  # a drain claims, then dies
    assert len(claimed) == 2
    assert drain(server).sent == 0  # leased to the dead drain
    OutboxItem.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
    assert drain(server).sent == 2


def test_outage_leaves_items_pending_with_backoff(workspace, server, vici_list, vici):
    ids = make_leads(workspace, 3)
    services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk)
    vici.down()
    stats = drain(server)
    assert stats.retrying == 3 and stats.sent == 0
    items = list(OutboxItem.objects.all())
    assert {i.state for i in items} == {"pending"}
    assert all(i.next_attempt_at > timezone.now() for i in items)
    assert "ConnectionError" in items[0].last_error
    vici.up()
    OutboxItem.objects.update(next_attempt_at=timezone.now())
    assert drain(server).sent == 3


def test_gives_up_after_max_attempts(workspace, server, vici_list, vici, settings):
    settings.DIALER_MAX_ATTEMPTS = 2
    [lead_id] = make_leads(workspace, 1)
    services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=vici_list.pk)
    vici.fail_next(10)
    drain(server)
    OutboxItem.objects.update(next_attempt_at=timezone.now())
    drain(server)
    item = OutboxItem.objects.get()
    assert item.state == "dead"
    assert LeadEvent.objects.filter(lead_id=lead_id, kind="push_failed").exists()
    vici.fail_next(0)
    services.outbox_retry(item_ids=[item.pk])
    assert drain(server).sent == 1


def test_one_bad_login_pauses_the_server_and_sends_nothing_more(workspace, server, vici_list, vici):
    services.server_set_password(server=server, password="WrongPass9")
    services.outbox_enqueue_add(lead_ids=make_leads(workspace, 30), vici_list_id=vici_list.pk)
    stats = drain(server)
    assert stats.paused and stats.sent == 0
    assert vici.state.users["crmapi"].failed == 1  # one bad login, not thirty
    server.refresh_from_db()
    assert server.paused_until and "Login incorrect" in server.paused_reason
    assert "WrongPass9" not in server.paused_reason
    assert drain(server).paused  # still paused: no request
    assert len(vici.state.requests) == 1
    assert set(OutboxItem.objects.values_list("state", "attempts")) == {("pending", 0)}
    services.server_set_password(server=server, password="Secret123")
    services.server_resume(server=server)
    assert drain(server).sent == 30


def test_hourly_call_budget_is_respected(workspace, server, vici_list, vici):
    ViciServer.objects.filter(pk=server.pk).update(max_calls_per_hour=7)
    services.outbox_enqueue_add(lead_ids=make_leads(workspace, 10), vici_list_id=vici_list.pk)
    stats = drain(server)
    assert stats.sent == 7 and stats.budget_exhausted
    assert len(vici.state.requests) == 7
    assert OutboxItem.objects.filter(state="pending").count() == 3


def test_password_is_encrypted_or_read_from_the_environment(server, monkeypatch):
    server.refresh_from_db()
    assert "Secret123" not in server.api_password_encrypted
    assert services.server_password(server) == "Secret123"
    monkeypatch.setenv("VICI1_PASS", "FromEnv1")
    server.api_password_env = "VICI1_PASS"
    assert services.server_password(server) == "FromEnv1"


@pytest.mark.django_db(transaction=True)
def test_two_drains_at_once_never_send_an_item_twice(workspace, server, vici_list, vici):
    services.outbox_enqueue_add(lead_ids=make_leads(workspace, 300), vici_list_id=vici_list.pk)
    vici.latency = 0.005
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait(timeout=10)
            services.outbox_drain(server_id=server.pk)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    adds = [r for r in vici.state.requests if r.get("function") == "add_lead"]
    assert len(adds) == 300
    assert len({r["vendor_lead_code"] for r in adds}) == 300
    assert len(vici.state.leads) == 300


def pushed(workspace, server, vici_list, n=1, **fields):
    ids = make_leads(workspace, n, **fields)
    services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk)
    assert drain(server).sent == n
    return ids


def test_an_edited_lead_is_updated_in_vici(
    workspace, server, vici_list, vici, django_capture_on_commit_callbacks
):
    from leads.services import lead_update

    [lead_id] = pushed(workspace, server, vici_list, first_name="Ann")
    lead = Lead.objects.get(pk=lead_id)
    with django_capture_on_commit_callbacks(execute=True):
        lead_update(lead=lead, data={"first_name": "Anna", "phone": "+14155550199"}, actor="t")
    item = OutboxItem.objects.get(operation="update")
    assert item.payload == {
        "first_name": "Anna",
        "phone_code": "1",
        "phone_number": "4155550199",
        "update_phone_number": "Y",
    }
    assert drain(server).sent == 1
    row = vici.state.leads[lead.vici_lead_id]
    assert (row["first_name"], row["phone_number"]) == ("Anna", "4155550199")
    assert LeadEvent.objects.filter(
        lead_id=lead_id, kind="pushed", message__startswith="Updated in VICIdial"
    ).exists()


def test_leads_not_in_vici_get_no_update(workspace, vici_list):
    ids = make_leads(workspace, 2)
    assert services.outbox_enqueue_update(lead_ids=ids, fields={"first_name": "X"}) == 0
    assert services.outbox_enqueue_status(lead_ids=ids, status="DNC") == 0
    assert not OutboxItem.objects.exists()


def test_a_dnc_set_here_becomes_the_vici_status_but_not_an_echo(
    workspace, server, vici_list, vici, django_capture_on_commit_callbacks
):
    from leads.services import lead_status_set

    a, b = pushed(workspace, server, vici_list, n=2)
    with django_capture_on_commit_callbacks(execute=True):
        lead_status_set(lead_ids=[a], status="dnc", reason="opted out", actor="broadcast")
        lead_status_set(lead_ids=[b], status="dnc", reason="DNC disposition", actor="vicidial")
    assert list(
        OutboxItem.objects.filter(operation="status").values_list("lead_id", "payload")
    ) == [(a, {"status": "DNC"})]
    assert drain(server).sent == 3  # a's status; both numbers onto the DNC list
    assert vici.state.leads[Lead.objects.get(pk=a).vici_lead_id]["status"] == "DNC"


def test_changes_merge_into_one_open_update_even_in_flight(workspace, server, vici_list, vici):
    [lead_id] = pushed(workspace, server, vici_list)
    services.outbox_enqueue_update(lead_ids=[lead_id], fields={"first_name": "A"})
    services.outbox_enqueue_update(lead_ids=[lead_id], fields={"last_name": "B"})
    item = OutboxItem.objects.get(operation="update")
    assert item.payload == {"first_name": "A", "last_name": "B"}
    # Claimed (in flight) with that payload, then a newer change arrives before the answer.
    [claimed] = items_claim(server.pk, 10)
    services.outbox_enqueue_update(lead_ids=[lead_id], fields={"first_name": "C"})
    out = item_send(services.client_for(server), claimed, {vici_list.pk: vici_list})
    outcomes_record([out], {claimed["id"]: 1}, {claimed["id"]: 1001}, server.pk)
    item.refresh_from_db()
    assert item.state == "pending"  # sent "A", but "C" is newer: it goes again
    assert drain(server).sent == 1
    item.refresh_from_db()
    assert item.state == "sent"
    row = vici.state.leads[Lead.objects.get(pk=lead_id).vici_lead_id]
    assert (row["first_name"], row["last_name"]) == ("C", "B")


def test_the_drain_keeps_the_servers_concurrency_busy_but_never_above_it(
    workspace, server, vici_list, vici
):
    server.max_concurrency = 3
    server.save()
    vici.latency = 0.02
    ids = make_leads(workspace, 40)
    services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk)
    assert drain(server).sent == 40
    assert vici.max_active == 3  # up to the limit, never past it
    assert len(vici.state.leads) == 40


def test_the_next_batch_is_sent_while_the_last_one_is_still_in_flight(
    workspace, server, vici_list, vici, settings
):
    settings.DIALER_BATCH_SIZE = 5
    server.max_concurrency = 3
    server.save()
    vici.latency = 0.03
    ids = make_leads(workspace, 15)
    services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk)
    assert drain(server).sent == 15
    # Items are claimed in id order, five at a time: in lock-step batches no request of
    # batch two could start before every request of batch one had been answered.
    by_lead = {code: (start, end) for code, start, end in vici.timeline}
    first_batch_end = max(by_lead[str(i)][1] for i in ids[:5])
    second_batch_start = min(by_lead[str(i)][0] for i in ids[5:10])
    assert second_batch_start < first_batch_end


@pytest.mark.timeout(60)
def test_a_server_stored_with_no_concurrency_still_sends_one_at_a_time(
    workspace, server, vici_list, vici
):
    ViciServer.objects.filter(pk=server.pk).update(max_concurrency=0)  # older rows, raw edits
    services.outbox_enqueue_add(lead_ids=make_leads(workspace, 3), vici_list_id=vici_list.pk)
    assert drain(server).sent == 3
    assert vici.max_active == 1


def test_one_drain_per_server_at_a_time(workspace, server, vici_list, vici):
    """Beat and "Drain now" can both start a drain: the second returns at once."""
    from django.db import connections

    from core.locks import lock_key

    services.outbox_enqueue_add(lead_ids=make_leads(workspace, 3), vici_list_id=vici_list.pk)
    key = lock_key("dialer-drain", server.pk)
    other = connections.create_connection("default")  # another process's drain holds it
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        stats = drain(server)
        assert stats.busy and stats.sent == 0
        assert not any(r.get("function") == "add_lead" for r in vici.state.requests)
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
    finally:
        other.close()
    stats = drain(server)
    assert not stats.busy and stats.sent == 3
