import json
import logging

import pytest

from broadcast import services
from broadcast.client import WahaClient
from broadcast.models import Device, Enrollment, Message
from leads.models import Lead, LeadEvent, Suppression
from tests.broadcast.fixtures import dispatch_until, make_sequence
from tests.routing.factories import make_leads


def post(client, device, event: dict, *, secret=None):
    body = json.dumps(event).encode()
    signature = WahaClient.sign(body, secret or device.webhook_secret)
    return client.post(
        f"/webhooks/gateway/{device.pk}/",
        data=body,
        content_type="application/json",
        headers={"X-Webhook-Hmac": signature, "X-Webhook-Hmac-Algorithm": "sha512"},
    )


@pytest.fixture
def sent(workspace, device, gateway):
    """Two leads in two sequences each, the first message sent to each."""
    first = make_sequence(workspace, "hi {first_name}", "two", delays=(0, 60))
    second = make_sequence(
        workspace, "other", "more", delays=(0, 60), name="Other", stop_on_reply=False
    )
    ids = make_leads(workspace, 2, first_name="Ann")
    Lead.objects.filter(pk=ids[0]).update(email="ann@example.com")
    services.enrollment_create_many(lead_ids=ids, sequence_id=first.pk)
    services.enrollment_create_many(lead_ids=ids[:1], sequence_id=second.pk)
    dispatch_until(lambda: Message.objects.filter(status="sent").count() == 3)
    return ids


def test_the_webhook_needs_the_devices_signature(client, device):
    event = {"event": "session.status", "session": "s1", "payload": {"status": "FAILED"}}
    assert post(client, device, event, secret="wrong").status_code == 403
    response = client.post(
        f"/webhooks/gateway/{device.pk}/?token=wrong", data=event, content_type="application/json"
    )
    assert response.status_code == 403
    device.refresh_from_db()
    assert device.status == "active"
    response = client.post(
        f"/webhooks/gateway/{device.pk}/?token={device.webhook_secret}",
        data=event,
        content_type="application/json",
    )
    assert response.status_code == 200


def test_bad_bodies_get_a_400_with_the_reason(client, device):
    for body in (
        {"payload": {}},
        {"event": "message.ack", "payload": {"id": "x", "ack": 9}},
        {"event": "message", "payload": {"from": "nobody", "body": "hi"}},
    ):
        response = post(client, device, body)
        assert response.status_code == 400, body
        assert response.json()["code"] == "invalid" and response.json()["errors"]["body"]


def test_receipts_move_a_message_forward_only(client, device, sent):
    message = Message.objects.filter(status="sent").first()
    read = {
        "event": "message.ack",
        "payload": {"id": message.gateway_id, "ack": 3, "ackName": "READ", "timestamp": 1796180000},
    }
    assert post(client, device, read).json()["status"] == "read"
    delivered = {"event": "message.ack", "payload": {"id": message.gateway_id, "ack": 2}}
    assert post(client, device, delivered).json()["status"] == "read"  # no step back
    message.refresh_from_db()
    assert message.status == "read" and message.read_at and message.delivered_at
    unknown = {"event": "message.ack", "payload": {"id": "true_x@c.us_NOPE", "ack": 2}}
    assert post(client, device, unknown).json() == {"ok": True, "matched": False}


def test_a_failed_receipt_marks_the_message_failed(client, device, sent):
    message = Message.objects.filter(status="sent").first()
    post(client, device, {"event": "message.ack", "payload": {"id": message.gateway_id, "ack": -1}})
    message.refresh_from_db()
    assert message.status == "failed"
    assert LeadEvent.objects.filter(
        lead_id=message.lead_id, kind="message_status", data__status="failed"
    ).exists()


def test_a_reply_stops_sequences_that_stop_on_reply(client, device, sent):
    lead = Lead.objects.get(pk=sent[0])
    reply = {
        "event": "message",
        "payload": {
            "id": "false_1@c.us_A",
            "fromMe": False,
            "from": lead.phone[1:] + "@c.us",
            "body": "Who is this?",
        },
    }
    assert post(client, device, reply).json()["stopped"] == 1
    assert post(client, device, reply).json()["duplicate"] is True  # a webhook retried
    statuses = dict(Enrollment.objects.filter(lead=lead).values_list("sequence__name", "status"))
    assert statuses == {"Welcome": "stopped", "Other": "active"}
    assert Enrollment.objects.get(lead_id=sent[1]).status == "active"
    assert (
        LeadEvent.objects.filter(lead=lead, kind="message_received", message="Who is this?").count()
        == 1
    )
    # No pending message is left for the stopped enrollment.
    assert not Message.objects.filter(
        enrollment__sequence__name="Welcome", lead=lead, status="pending"
    ).exists()


def test_an_opt_out_keyword_suppresses_every_channel_and_stops_everything(client, device, sent):
    lead = Lead.objects.get(pk=sent[0])
    stop = {"event": "message", "payload": {"from": lead.phone[1:] + "@c.us", "body": " stop "}}
    assert post(client, device, stop).json()["opt_out"] is True
    kinds = set(Suppression.objects.values_list("kind", "value"))
    assert {("phone", lead.phone), ("email", "ann@example.com")} <= kinds
    assert set(Enrollment.objects.filter(lead=lead).values_list("status", flat=True)) == {"stopped"}
    lead.refresh_from_db()
    assert lead.status == Lead.Status.DNC
    assert LeadEvent.objects.filter(lead=lead, kind="opted_out").exists()


def test_opt_out_detection():
    assert services.is_opt_out("STOP")
    assert services.is_opt_out("Stop please")
    assert services.is_opt_out("unsubscribe.")
    assert not services.is_opt_out("Don't stop, tell me more about the offer")
    assert not services.is_opt_out("")


def test_session_status_pauses_and_resumes_the_device(client, device, caplog):
    event = {"event": "session.status", "payload": {"status": "SCAN_QR_CODE"}}
    with caplog.at_level("ERROR", logger="leadbrain.alerts"):
        assert post(client, device, event).json()["device_status"] == "disconnected"
    assert any("disconnected" in r.getMessage() for r in caplog.records)  # the alert
    working = {"event": "session.status", "payload": {"status": "WORKING"}}
    assert post(client, device, working).json()["device_status"] == "active"
    banned = {"event": "session.status", "payload": {"status": "BANNED"}}
    assert post(client, device, banned).json()["device_status"] == "banned"
    # A ban is lifted by a person, not by the session coming back.
    assert post(client, device, working).json()["device_status"] == "banned"
    Device.objects.filter(pk=device.pk).update(status="paused")
    assert post(client, device, working).json()["device_status"] == "paused"


def test_the_signature_and_token_are_compared_in_constant_time(client, device, monkeypatch):
    import hmac

    from broadcast import views

    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    event = {"event": "session.status", "payload": {"status": "WORKING"}}
    assert post(client, device, event).status_code == 200
    token_url = f"/webhooks/gateway/{device.pk}/?token={device.webhook_secret}"
    assert client.post(token_url, data=event, content_type="application/json").status_code == 200
    secret = device.webhook_secret.encode()
    assert (secret, secret) in compared  # the token, as bytes
    assert any(len(a) == 128 for a, _ in compared)  # the HMAC-SHA512 hex digest
    # An unknown device is compared too (against a dummy), then refused like a bad secret.
    compared.clear()
    unknown = client.post("/webhooks/gateway/999999/?token=abc", data=event)
    assert unknown.status_code == 403 and compared
    assert views._NO_SECRET.encode() in {b for _, b in compared}
    # A signature header that is not ASCII is a refusal, not a 500.
    body = json.dumps(event).encode()
    odd = client.post(
        f"/webhooks/gateway/{device.pk}/",
        data=body,
        content_type="application/json",
        headers={"X-Webhook-Hmac": "é" * 128},
    )
    assert odd.status_code == 403


def test_the_token_in_the_url_never_reaches_a_log_line(client, device, caplog, monkeypatch):
    from broadcast import views

    caplog.set_level(logging.DEBUG)
    secret = device.webhook_secret
    url = f"/webhooks/gateway/{device.pk}/?token={secret}"
    session = {"event": "session.status", "payload": {"status": "SCAN_QR_CODE"}}
    assert client.post(url, data=session, content_type="application/json").status_code == 200
    bad = client.post(url, data={"payload": {}}, content_type="application/json")
    assert bad.status_code == 400
    tail = "zz" if secret[-2:] != "zz" else "yy"  # a random secret may end in "zz"
    wrong = f"/webhooks/gateway/{device.pk}/?token={secret[:-2]}{tail}"
    assert client.post(wrong, data=session, content_type="application/json").status_code == 403
    unknown = f"/webhooks/gateway/999999/?token={secret}"
    assert client.post(unknown, data=session, content_type="application/json").status_code == 403

    def broken(**kwargs):
        raise RuntimeError("applying the event failed")

    monkeypatch.setattr(views, "gateway_event_apply", broken)
    client.raise_request_exception = False
    assert client.post(url, data=session, content_type="application/json").status_code == 500
    assert any(r.name == "django.request" and r.levelname == "ERROR" for r in caplog.records)
    assert any(r.name == "leadbrain.alerts" for r in caplog.records)  # the logs were seen
    for record in caplog.records:
        everything = " ".join(
            [record.getMessage(), record.exc_text or "", *(repr(v) for v in vars(record).values())]
        )
        assert secret not in everything, record.name
        assert secret[:-2] not in everything, record.name
