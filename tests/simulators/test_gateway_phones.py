"""The gateway simulator's phones: delivery and read receipts and replies (STOP now and
then) go to the session's webhooks, signed like WAHA and readable by Leadbrain's parser."""

import json

import requests

from broadcast.client import WahaClient
from simulators.gateway import GatewaySimulator
from simulators.gateway.events import Phones
from tests.simulators.receiver import Receiver

T0 = 1_800_000_000.0
CHAT = "14155550100@c.us"


def recording(sessions: dict, **options):
    posted: list[tuple[str, bytes, dict]] = []
    phones = Phones(
        sessions,
        post=lambda url, body, headers: posted.append((url, body, headers)) or 200,
        seed=3,
        **options,
    )
    return phones, posted


def events(posted) -> list[tuple[str, dict]]:
    return [(json.loads(body)["event"], json.loads(body)["payload"]) for _, body, _ in posted]


def test_a_send_gets_a_delivery_then_a_read_receipt_then_maybe_a_stop_reply():
    sessions = {"s1": {"webhooks": [{"url": "http://crm.test/hook", "hmac": {"key": "k"}}]}}
    phones, posted = recording(sessions, ack_delay=(1, 1), read_share=1.0, stop_share=1.0)
    phones.on_sent(session="s1", chat_id=CHAT, message_id="true_x_1", now=T0)
    assert phones.tick(T0) == 0 and posted == []
    phones.tick(T0 + 2.5)
    assert [(e, p.get("ack")) for e, p in events(posted)] == [
        ("message.ack", 2),
        ("message.ack", 3),
    ]
    phones.tick(T0 + 10)
    kind, reply = events(posted)[-1]
    assert (kind, reply["body"], reply["from"], reply["fromMe"]) == ("message", "STOP", CHAT, False)
    for url, body, headers in posted:
        assert url == "http://crm.test/hook"
        assert WahaClient.verify(body, headers, "k")
        parsed = WahaClient.parse_webhook(body)
        assert parsed is not None and parsed.kind in {"ack", "message"}
    acks = [WahaClient.parse_webhook(body) for _, body, _ in posted[:2]]
    assert [(a.gateway_id, a.ack) for a in acks] == [
        ("true_x_1", "delivered"),
        ("true_x_1", "read"),
    ]


def test_only_subscribed_events_are_posted_and_sessions_without_hooks_get_none():
    sessions = {"s1": {"webhooks": [{"url": "http://crm.test/hook", "events": ["message"]}]}}
    phones, posted = recording(
        sessions, ack_delay=(0, 0), read_share=1.0, stop_share=0.0, reply_share=0.0
    )
    phones.on_sent(session="s1", chat_id=CHAT, message_id="m1", now=T0)
    phones.on_sent(session="other", chat_id=CHAT, message_id="m2", now=T0)
    assert phones.tick(T0 + 1) == 4
    assert posted == []


def test_the_running_gateway_takes_webhooks_by_the_session_api_and_posts_receipts():
    receiver = Receiver().start()
    gateway = GatewaySimulator(token="tok").start()
    try:
        headers = {"X-Api-Key": "tok"}
        config = {
            "webhooks": [
                {"url": f"{receiver.url}/hook", "events": ["message.ack"], "hmac": {"key": "k"}}
            ]
        }
        unauthorized = requests.put(
            f"{gateway.url}/api/sessions/s1", json={"config": config}, timeout=5
        )
        assert unauthorized.status_code == 401
        bad = requests.put(
            f"{gateway.url}/api/sessions/s1",
            json={"config": {"webhooks": [{"url": "ftp://x"}]}},
            headers=headers,
            timeout=5,
        )
        assert bad.status_code == 400
        ok = requests.put(
            f"{gateway.url}/api/sessions/s1", json={"config": config}, headers=headers, timeout=5
        )
        assert ok.status_code == 200 and gateway.sessions["s1"]["webhooks"][0]["url"].endswith(
            "/hook"
        )
        created = requests.post(
            f"{gateway.url}/api/sessions",
            json={"name": "s2", "config": config},
            headers=headers,
            timeout=5,
        )
        assert created.status_code == 201 and "s2" in gateway.sessions
        gateway.start_phones(ack_delay=(0, 0.05), read_share=0.0, seed=1)
        result = WahaClient(base_url=gateway.url, session_name="s1", token="tok").send(
            phone="+14155550100", text="Hi"
        )
        [request] = receiver.wait_for(1)
        assert request.method == "POST" and request.target == "/hook"
        assert WahaClient.verify(request.body, request.headers, "k")
        event = WahaClient.parse_webhook(request.body)
        assert (event.kind, event.gateway_id, event.ack) == ("ack", result.gateway_id, "delivered")
    finally:
        gateway.stop()
        receiver.stop()
