"""The WAHA client against the real local gateway double."""

from datetime import timedelta

import pytest
from django.utils import timezone

from broadcast.client import (
    GatewayError,
    GatewayRejected,
    GatewaySessionDown,
    WahaClient,
    chat_id,
    phone_from_chat,
)


@pytest.fixture
def client(gateway):
    return WahaClient(base_url=gateway.url, session_name="s1", token="gw-token", timeout=2)


def test_send_text_and_media(client, gateway):
    result = client.send(phone="+14155550100", text="Hi")
    assert result.gateway_id == gateway.sent[0].message_id
    assert (gateway.sent[0].chat_id, gateway.sent[0].text) == ("14155550100@c.us", "Hi")
    client.send(phone="+14155550100", text="Look", media_url="https://example.com/a.jpg")
    image = gateway.sent[1]
    assert (image.text, image.media_url) == ("Look", "https://example.com/a.jpg")


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (500, GatewayError, True),
        (503, GatewayError, True),
        (429, GatewayError, True),
        (400, GatewayRejected, False),
        (404, GatewayRejected, False),
    ],
)
def test_errors_are_typed_and_say_if_a_retry_may_help(client, gateway, status, kind, retryable):
    gateway.fail_next(1, status=status)
    with pytest.raises(kind) as info:
        client.send(phone="+14155550100", text="Hi")
    assert info.value.retryable is retryable


def test_a_wrong_token_or_a_ban_is_a_session_problem(gateway):
    bad = WahaClient(base_url=gateway.url, session_name="s1", token="wrong", timeout=2)
    with pytest.raises(GatewaySessionDown) as info:
        bad.send(phone="+14155550100", text="Hi")
    assert not info.value.banned
    gateway.ban("s1")
    good = WahaClient(base_url=gateway.url, session_name="s1", token="gw-token", timeout=2)
    with pytest.raises(GatewaySessionDown) as info:
        good.send(phone="+14155550100", text="Hi")
    assert info.value.banned


def test_a_dead_gateway_is_retryable(gateway):
    client = WahaClient(base_url=gateway.url, session_name="s1", token="gw-token", timeout=1)
    gateway.down()
    with pytest.raises(GatewayError) as info:
        client.send(phone="+14155550100", text="Hi")
    assert info.value.retryable and "unreachable" in info.value.message


def test_chat_ids():
    assert chat_id("+14155550100") == "14155550100@c.us"
    assert phone_from_chat("14155550100@c.us") == "+14155550100"
    assert phone_from_chat("group-1@g.us") == ""


def test_the_session_status_is_a_cheap_probe(client, gateway):
    assert client.session_status() == "active"
    assert [(r.method, r.path) for r in gateway.received] == [("GET", "/api/sessions/s1")]
    gateway.disconnect("s1")
    assert client.session_status() == "disconnected"
    gateway.ban("s1")
    with pytest.raises(GatewaySessionDown) as refused:
        client.session_status()
    assert refused.value.banned
    gateway.fail_next(1, status=503)
    with pytest.raises(GatewayError) as failed:
        client.session_status()
    assert failed.value.retryable and not isinstance(failed.value, GatewaySessionDown)
    gateway.down()
    fresh = WahaClient(base_url=gateway.url, session_name="s1", timeout=2)  # no kept-alive socket
    try:
        with pytest.raises(GatewayError) as unreachable:
            fresh.session_status()
    finally:
        gateway.up()
    assert unreachable.value.retryable
    assert unreachable.value.message == "gateway unreachable: ConnectionError talking to 127.0.0.1"


def test_the_chat_listing_shows_what_the_session_sent_to_a_chat(client, gateway):
    since = timezone.now()
    first = client.send(phone="+14155550100", text="Hi")
    client.send(phone="+14155550100", text="Look", media_url="https://example.com/a.jpg")
    client.send(phone="+14155550199", text="Someone else")
    other = WahaClient(base_url=gateway.url, session_name="s2", token="gw-token", timeout=2)
    other.send(phone="+14155550100", text="Another device")
    listed = client.sent_since(phone="+14155550100", since=since)
    assert sorted((m.body, m.has_media) for m in listed) == [("Hi", False), ("Look", True)]
    assert first.gateway_id in {m.gateway_id for m in listed}  # the id the send answered
    assert all(m.at and m.at.timestamp() >= int(since.timestamp()) for m in listed)
    assert client.sent_since(phone="+14155550100", since=since + timedelta(minutes=5)) == []
    listing = gateway.listings()[0]
    assert (listing.path, listing.chat_id) == (
        "/api/s1/chats/14155550100%40c.us/messages",
        "14155550100@c.us",
    )
    assert gateway.chats_reached() == {"14155550100@c.us", "14155550199@c.us"}  # sends only


def test_the_chat_listing_pages_and_refuses_to_guess(client, gateway, monkeypatch):
    from broadcast import client as module

    monkeypatch.setattr(module, "LIST_PAGE", 2)
    since = timezone.now()
    for n in range(5):
        client.send(phone="+14155550100", text=f"m{n}")
    assert sorted(m.body for m in client.sent_since(phone="+14155550100", since=since)) == [
        f"m{n}" for n in range(5)
    ]
    assert len(gateway.listings()) == 3  # 2 + 2 + 1
    monkeypatch.setattr(module, "LIST_PAGES", 2)
    with pytest.raises(GatewayError, match="more than 4 messages"):
        client.sent_since(phone="+14155550100", since=since)


def test_a_chat_listing_that_fails_is_an_error_never_an_empty_chat(client, gateway):
    client.send(phone="+14155550100", text="Hi")
    since = timezone.now() - timedelta(minutes=1)
    gateway.fail_next(1, status=503)
    with pytest.raises(GatewayError) as failed:
        client.sent_since(phone="+14155550100", since=since)
    assert failed.value.retryable
    gateway.disconnect("s1")
    with pytest.raises(GatewaySessionDown) as down:
        client.sent_since(phone="+14155550100", since=since)
    assert not down.value.banned
    gateway.ban("s1")
    with pytest.raises(GatewaySessionDown) as down:
        client.sent_since(phone="+14155550100", since=since)
    assert down.value.banned
    gateway.down()
    fresh = WahaClient(base_url=gateway.url, session_name="s1", token="gw-token", timeout=1)
    with pytest.raises(GatewayError, match="unreachable"):  # no kept-alive connection
        fresh.sent_since(phone="+14155550100", since=since)
