import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from broadcast import services as broadcast_services
from broadcast.models import Enrollment, Message
from calllogs import services
from calllogs.models import CallLog, ServerHook, WebhookEvent
from calllogs.services import CallRecord
from leads.models import Lead, LeadEvent, Suppression
from tests.broadcast.fixtures import make_sequence
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db

EPOCH = int((timezone.now() - timedelta(hours=2)).timestamp())
UID = f"{EPOCH}.4242"


@pytest.fixture
def lead(workspace):
    [lead_id] = make_leads(workspace, 1)
    Lead.objects.filter(pk=lead_id).update(vici_lead_id=8, status="routed")
    return Lead.objects.get(pk=lead_id)


def webhook(client, lead, **extra):
    params = {
        "server": extra.pop("server", None),
        "token": "tok-123",
        "kind": "dispo",
        "lead_id": "8",
        "vendor_lead_code": str(lead.pk),
        "uniqueid": UID,
        "dispo": "SALE",
        "talk_time": "95",
        "user": "agent7",
        "list_id": "1001",
        "phone_number": "4155550100",
        "call_id": "V1122334455000000008",
        "recording_filename": "--A--recording_filename--B--",
        **extra,
    }
    response = client.get("/webhooks/vici/call/", params)
    services.webhook_events_drain()  # what the woken calllogs worker does
    return response


def test_webhook_with_real_query_string(client, call_server, lead):
    # A Dispo URL of an older template: user, campaign and rec are raw text in a Dispo URL
    # (VICIDIAL.md 2.5), so they are not read; the hourly sync brings them.
    url = (
        f"/webhooks/vici/call/?server={call_server.pk}&token=tok-123&kind=dispo&lead_id=8"
        f"&vendor_lead_code={lead.pk}&uniqueid={UID}&dispo=SALE&talk_time=95&user=agent7"
        "&campaign=TESTCAMP&rec=http%3A%2F%2Frec.example%2Ff%20one.mp3&unknown_var=1"
        "&term_reason=--A--term_reason--B--&list_id=1001"
    )
    response = client.get(url)
    assert response.status_code == 200 and response.json() == {"ok": True, "queued": True}
    assert not CallLog.objects.exists()  # stored, answered, applied by the worker
    [stored] = WebhookEvent.objects.values_list("params", flat=True)
    assert stored == {
        "kind": "dispo",
        "lead_id": "8",
        "vendor_lead_code": str(lead.pk),
        "list_id": "1001",
        "dispo": "SALE",
        "talk_time": "95",
        "uniqueid": UID,
    }
    assert services.webhook_events_drain() == 1
    call = CallLog.objects.get()
    assert (call.lead_id, call.status, call.talk_seconds, call.list_id) == (
        lead.pk,
        "SALE",
        95,
        1001,
    )
    assert (call.agent, call.campaign, call.recording_url, call.term_reason) == ("", "", "", "")
    assert call.call_time == datetime.fromtimestamp(EPOCH, tz=UTC)
    assert call.path_names == ["webhook"]
    lead.refresh_from_db()
    assert lead.status == "sale"
    event = LeadEvent.objects.get(lead_id=lead.pk, kind="dispositioned")
    assert event.message == "Call SALE (Sale made), talk 95 s"
    # idempotent: the same call again writes nothing new
    assert webhook(client, lead, server=call_server.pk).status_code == 200
    assert CallLog.objects.count() == 1
    assert LeadEvent.objects.filter(lead_id=lead.pk, kind="dispositioned").count() == 1
    assert not WebhookEvent.objects.exists()


def test_webhook_bad_token_and_garbage(client, call_server, lead):
    assert webhook(client, lead, server=call_server.pk, token="nope").status_code == 403
    assert webhook(client, lead, server="x").status_code == 403
    bad = webhook(client, lead, server=call_server.pk, uniqueid="--A--uniqueid--B--")
    assert bad.status_code == 400 and "uniqueid" in bad.json()["errors"]
    post = client.post(
        f"/webhooks/vici/call/?server={call_server.pk}&token=tok-123",
        {"uniqueid": f"{EPOCH}.1", "dispo": "NA"},
    )
    assert post.status_code == 200


def test_start_then_dispo_then_noagent_merge(client, call_server, lead):
    webhook(client, lead, server=call_server.pk, kind="start", dispo="", talk_time="0")
    webhook(client, lead, server=call_server.pk)
    call = CallLog.objects.get()
    assert call.status == "SALE" and call.talk_seconds == 95
    kinds = list(
        LeadEvent.objects.filter(lead_id=lead.pk)
        .exclude(kind="created")
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds[:2] == ["called", "dispositioned"]


def test_the_same_call_by_three_paths_in_every_order_gives_one_identical_row(call_server, lead):
    base = {"uniqueid": UID, "vici_lead_id": 8, "list_id": 1001}
    variants = {
        "webhook": CallRecord(
            **base,
            vendor_lead_code=str(lead.pk),
            status="SALE",
            talk_seconds=95,
            agent="agent7",
            call_id="V1",
        ),
        "sync": CallRecord(
            **base,
            status="SALE",
            talk_seconds=96,
            agent="agent7",
            recording_url="http://rec/1.mp3",
            term_reason="AGENT",
        ),
        "reconcile": CallRecord(
            **base, status="SALE", talk_seconds=96, agent="agent7", phone="4155550100"
        ),
    }
    results = set()
    for order in itertools.permutations(variants):
        CallLog.objects.all().delete()
        for path in order:
            services.call_log_upsert_many(
                server_id=call_server.pk, records=[variants[path]], path=path
            )
        fields = (
            "lead_id",
            "status",
            "talk_seconds",
            "agent",
            "call_id",
            "recording_url",
            "term_reason",
            "phone",
            "paths",
        )
        row = CallLog.objects.values(*fields).get()
        results.add(tuple(row.values()))
    assert len(results) == 1
    [row] = results
    assert row == (
        lead.pk,
        "SALE",
        96,
        "agent7",
        "V1",
        "http://rec/1.mp3",
        "AGENT",
        "4155550100",
        7,
    )


def test_dnc_suppresses_and_stops_sequences(
    call_server, lead, workspace, device, django_capture_on_commit_callbacks
):
    sequence = make_sequence(workspace, "hello", "again")
    enrolled = broadcast_services.enrollment_create_many(
        lead_ids=[lead.pk], sequence_id=sequence.pk
    )
    assert enrolled.created == 1
    Lead.objects.filter(pk=lead.pk).update(email="ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        services.call_log_upsert_many(
            server_id=call_server.pk,
            path="webhook",
            records=[CallRecord(uniqueid=UID, vici_lead_id=8, status="DNC", agent="a1")],
        )
    lead.refresh_from_db()
    assert lead.status == "dnc"
    # One meaning of do-not-contact, whichever path says it: phone and email suppressed.
    assert Suppression.objects.filter(kind="phone", value=lead.phone).exists()
    assert Suppression.objects.filter(kind="email", value="ann@example.com").exists()
    assert LeadEvent.objects.filter(lead_id=lead.pk, kind="opted_out").exists()
    enrollment = Enrollment.objects.get(lead_id=lead.pk)
    assert (enrollment.status, enrollment.reason) == ("stopped", "lead became dnc")
    assert Message.objects.get(lead_id=lead.pk).status == "cancelled"


def test_no_answer_counts_an_attempt_without_closing(call_server, lead):
    services.call_log_upsert_many(
        server_id=call_server.pk,
        path="sync",
        records=[CallRecord(uniqueid=UID, vici_lead_id=8, status="NA")],
    )
    lead.refresh_from_db()
    assert lead.status == "routed"
    assert CallLog.objects.filter(lead_id=lead.pk, status="NA").count() == 1
    event = LeadEvent.objects.get(lead_id=lead.pk, kind="dispositioned")
    assert event.data["status"] == "NA" and event.data["status_name"] == "No answer (auto dial)"


def test_hourly_sync_reads_the_vici_database(call_server, lead, vici_db):
    vici_db.add_call(
        uniqueid=UID, lead_id=8, status="SALE", length=61, recording="http://rec.example/a.mp3"
    )
    vici_db.add_call(uniqueid=f"{EPOCH + 60}.7", lead_id=8, status="CALLBK", inbound=True)
    assert services.calllogs_sync(server_id=call_server.pk) == 2
    calls = {c.uniqueid: c for c in CallLog.objects.all()}
    assert calls[UID].recording_url == "http://rec.example/a.mp3"
    assert calls[UID].path_names == ["sync"] and calls[UID].lead_id == lead.pk
    assert calls[f"{EPOCH + 60}.7"].direction == "in"
    hook = ServerHook.objects.get(server=call_server)
    assert hook.sync_watermark and hook.last_sync_rows == 2
    # a call that landed just before the last watermark is still read (the overlap)
    late = int((hook.sync_watermark - timedelta(minutes=5)).timestamp())
    vici_db.add_call(uniqueid=f"{late}.9", lead_id=8, status="NA")
    assert services.calllogs_sync(server_id=call_server.pk) == 1
    assert CallLog.objects.count() == 3


def test_reconciliation_repairs_drift_then_reports_zero(call_server, lead, vici_db):
    day = datetime.fromtimestamp(EPOCH, tz=UTC).date()
    vici_db.add_call(uniqueid=UID, lead_id=8, status="SALE")
    vici_db.add_call(uniqueid=f"{EPOCH + 5}.1", lead_id=8, status="NA")
    services.call_log_upsert_many(
        server_id=call_server.pk,
        path="webhook",
        records=[CallRecord(uniqueid=f"{EPOCH + 5}.1", vici_lead_id=8, status="")],
    )
    run = services.calllogs_reconcile(server_id=call_server.pk, day=day)
    assert (run.vici_calls, run.missing, run.differing, run.drift_after) == (2, 1, 1, 0)
    again = services.calllogs_reconcile(server_id=call_server.pk, day=day)
    assert (again.missing, again.differing, again.drift_after) == (0, 0, 0)


def test_lead_calls_api(api_client, call_server, lead):
    services.call_log_upsert_many(
        server_id=call_server.pk,
        path="webhook",
        records=[CallRecord(uniqueid=UID, vici_lead_id=8, status="SALE", agent="a1")],
    )
    body = api_client.get(f"/api/v1/leads/{lead.pk}/calls/").json()
    assert [(c["status"], c["paths"]) for c in body] == [("SALE", ["webhook"])]


def test_lead_calls_api_answers_404_outside_the_keys_workspace(api_client, partner_workspace):
    [other] = make_leads(partner_workspace, 1)
    response = api_client.get(f"/api/v1/leads/{other}/calls/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert api_client.get("/api/v1/leads/987654321/calls/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_webhook_and_sync_at_once_make_exactly_one_row(call_server, lead):
    barrier = threading.Barrier(2)
    errors = []

    def send(path, status):
        try:
            barrier.wait(timeout=10)
            services.call_log_upsert_many(
                server_id=call_server.pk,
                path=path,
                records=[CallRecord(uniqueid=UID, vici_lead_id=8, status=status)],
            )
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=a) for a in (("webhook", ""), ("sync", "SALE"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert CallLog.objects.count() == 1 and CallLog.objects.get().paths == 3


def test_admin_shows_the_call_urls_to_paste(admin_client, call_server):
    hook = ServerHook.objects.get(server=call_server)
    page = admin_client.get(f"/admin/calllogs/serverhook/{hook.pk}/change/").content.decode()
    assert f"/webhooks/vici/call/?server={call_server.pk}&amp;token=tok-123&amp;kind=dispo" in page
    assert "uniqueid=--A--uniqueid--B--" in page
    assert "Dispo Call URL" in page and "the hourly sync brings them" in page
    for raw_text in ("--A--recording_filename--B--", "--A--term_reason--B--"):
        assert raw_text not in page


def test_dnc_for_a_whole_batch_is_set_based(call_server, workspace, django_assert_max_num_queries):
    ids = make_leads(workspace, 40)
    Lead.objects.filter(pk__in=ids).update(vici_lead_id=None)
    records = [
        CallRecord(uniqueid=f"{EPOCH + n}.1", vendor_lead_code=str(lead_id), status="DNC")
        for n, lead_id in enumerate(ids)
    ]
    with django_assert_max_num_queries(25):
        services.call_log_upsert_many(server_id=call_server.pk, path="sync", records=records)
    assert Suppression.objects.filter(source="dnc").count() == 40
    assert set(Lead.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"dnc"}


def test_webhook_events_are_stored_without_the_secret_and_applied_in_batches(client, call_server):
    for n in range(30):
        response = client.get(
            "/webhooks/vici/call/",
            {
                "server": call_server.pk,
                "token": "tok-123",
                "kind": "dispo",
                "lead_id": "",
                "uniqueid": f"{EPOCH + n}.{n}",
                "dispo": "NA",
                "phone_number": "4155550100",
            },
        )
        assert response.status_code == 200
    stored = list(WebhookEvent.objects.values_list("params", flat=True))
    assert len(stored) == 30 and not any("token" in params for params in stored)
    assert services.webhook_events_drain(batch_size=8) == 30
    assert CallLog.objects.count() == 30 and not WebhookEvent.objects.exists()


def test_a_failing_drain_keeps_the_events(client, call_server, lead, monkeypatch):
    response = client.get(
        "/webhooks/vici/call/",
        {"server": call_server.pk, "token": "tok-123", "uniqueid": UID, "dispo": "SALE"},
    )
    assert response.status_code == 200

    def boom(**kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(services.drain, "call_log_upsert_many", boom)  # what the drain calls
    with pytest.raises(RuntimeError):
        services.webhook_events_drain()
    assert WebhookEvent.objects.count() == 1  # rolled back with the failed upsert
    monkeypatch.undo()
    assert services.webhook_events_drain() == 1
    assert CallLog.objects.get().status == "SALE"


def test_waiting_webhook_events_show_in_admin_and_health(
    client, admin_client, metrics_client, call_server
):
    response = client.get(
        "/webhooks/vici/call/",
        {"server": call_server.pk, "token": "tok-123", "uniqueid": UID, "dispo": "NA"},
    )
    assert response.status_code == 200
    page = admin_client.get("/admin/calllogs/webhookevent/")
    assert page.status_code == 200 and UID in page.content.decode()
    health = metrics_client.get("/health").json()
    assert health["metrics"]["queue_calllogs_webhook_events"]["value"] == 1


def test_a_recording_link_is_stored_only_when_it_is_http(call_server, lead):
    records = [
        CallRecord(uniqueid=f"{EPOCH}.1", vici_lead_id=8, recording_url="javascript:alert(1)"),
        CallRecord(uniqueid=f"{EPOCH}.2", vici_lead_id=8, recording_url="https://rec/2.mp3"),
    ]
    services.call_log_upsert_many(server_id=call_server.pk, path="sync", records=records)
    stored = dict(CallLog.objects.values_list("uniqueid", "recording_url"))
    assert stored == {f"{EPOCH}.1": "", f"{EPOCH}.2": "https://rec/2.mp3"}
