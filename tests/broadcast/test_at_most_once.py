"""At most once, and at least once after the faults: a send whose outcome was lost (its
dispatcher killed after the request left, its answer timed out) is looked up on the real
gateway double before it is made again; a send that never left is made once."""

import threading
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from broadcast import services
from broadcast.client import WahaClient
from broadcast.models import Device, Message
from broadcast.services.dispatch import Claim, dispatch_send
from broadcast.services.verify import sent_found
from leads.models import LeadEvent
from tests.broadcast.fixtures import dispatch_until, make_sequence
from tests.routing.factories import make_leads


def enroll(workspace, n, *templates, delays=()):
    sequence = make_sequence(workspace, *templates, delays=delays)
    ids = make_leads(workspace, n)
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    return ids


def killed_dispatcher(device, *, request_left: bool):
    """A dispatcher claims the message and commits its last check (the attempt is marked),
    then dies: after its request reached the gateway (``request_left``) or before it left.
    Nothing of the outcome is recorded. Then its lease runs out and is recovered."""
    claims = services.dispatch_claim(limit=10)
    good = services.dispatch_recheck(claims)
    assert len(good) == 1 and Message.objects.get(step=1).attempted_at is not None
    if request_left:
        outcome = dispatch_send(good[0], {device.gateway_url: requests.Session()}, threading.Lock())
        assert outcome.error is None  # the gateway took it; the answer dies with the worker
    assert services.dispatch_recover(now=timezone.now() + timedelta(minutes=10)) == 1
    Device.objects.filter(pk=device.pk).update(next_send_at=timezone.now())


def test_a_send_that_reached_the_gateway_but_whose_record_was_lost_is_not_sent_again(
    workspace, device, gateway
):
    [lead_id] = enroll(workspace, 1, "Hi {first_name}", "Still there?", delays=(0, 60))
    killed_dispatcher(device, request_left=True)
    assert len(gateway.sent) == 1

    first = Message.objects.filter(step=1)
    stats = dispatch_until(lambda: first.get().status == "sent")
    assert (stats.sent, stats.found) == (1, 1)
    assert len(gateway.sent) == 1  # not sent twice
    assert len(gateway.listings()) == 1  # the gateway was asked first
    message = first.get()
    assert message.gateway_id == gateway.sent[0].message_id  # acks and replies still match
    assert abs(message.sent_at.timestamp() - gateway.sent[0].at) < 1.01  # the gateway's time
    assert Message.objects.filter(step=2, status="pending").count() == 1  # one successor
    event = LeadEvent.objects.get(lead_id=lead_id, kind="message_sent")
    assert event.data["found_on_gateway"] is True
    device.refresh_from_db()
    assert device.sent_today == 1 and device.lease_until is None


@pytest.mark.parametrize("marked", [True, False])
def test_a_send_that_never_reached_the_gateway_is_sent_once_after_the_lease(
    workspace, device, gateway, marked
):
    """Killed after its last check was committed (marked: the gateway is asked first, has
    nothing, and the message is sent) or while its claim still waited for its turn
    (nothing left: sent without asking)."""
    enroll(workspace, 1, "Hi {first_name}")
    if marked:
        killed_dispatcher(device, request_left=False)
    else:
        assert len(services.dispatch_claim(limit=10)) == 1
        services.dispatch_recover(now=timezone.now() + timedelta(minutes=10))
        Device.objects.filter(pk=device.pk).update(next_send_at=timezone.now())
    stats = dispatch_until(lambda: Message.objects.get().status == "sent")
    assert (stats.sent, stats.found) == (1, 0)
    assert len(gateway.sent) == 1
    assert len(gateway.listings()) == (1 if marked else 0)
    assert Message.objects.get().gateway_id == gateway.sent[0].message_id


def test_no_send_while_the_gateway_cannot_say_whether_it_has_the_message(
    workspace, device, gateway
):
    enroll(workspace, 1, "Hi {first_name}")
    killed_dispatcher(device, request_left=True)
    gateway.fail_next(1, status=503)  # the listing fails: unknown, so nothing is sent
    stats = services.dispatch_run(seconds=0.5)
    assert (stats.sent, stats.retried) == (0, 1) and len(gateway.sent) == 1
    message = Message.objects.get()
    assert message.status == "pending" and "cannot list the chat" in message.error
    Message.objects.update(scheduled_at=timezone.now())  # the retry's backoff has passed
    stats = dispatch_until(lambda: Message.objects.get().status == "sent")
    assert stats.found == 1 and len(gateway.sent) == 1


def test_a_timed_out_send_the_gateway_took_is_found_not_repeated(
    workspace, device, gateway, settings
):
    settings.BROADCAST_GATEWAY_TIMEOUT = 0.2
    gateway.answer_delay = 0.6  # takes the send at once, answers after the client gave up
    enroll(workspace, 1, "Hi {first_name}")
    stats = dispatch_until(lambda: Message.objects.get().attempts == 1)
    assert stats.retried == 1 and len(gateway.sent) == 1
    assert "timed out" in Message.objects.get().error
    gateway.answer_delay = 0.0
    Message.objects.update(scheduled_at=timezone.now())
    stats = dispatch_until(lambda: Message.objects.get().status == "sent")
    assert (stats.sent, stats.found) == (1, 1) and len(gateway.sent) == 1
    assert Message.objects.get().gateway_id == gateway.sent[0].message_id


def test_only_this_messages_text_not_yet_recorded_for_the_lead_is_taken_as_it(gateway):
    """The lookup on its own: the same text recorded for another message of the lead, a
    different text, a text for a message with media, or a send before the attempt are
    not this message."""
    client = WahaClient(base_url=gateway.url, session_name="s1", token="gw-token", timeout=2)
    attempted = timezone.now()
    earlier = client.send(phone="+14155550100", text="Hi Ann").gateway_id
    later = client.send(phone="+14155550100", text="Hi Ann").gateway_id

    def claim(**fields) -> Claim:
        values = {"body": "Hi Ann", "media_url": "", "attempted_at": attempted, **fields}
        c = Claim(1, attempted, 1, 1, 1, values["body"], values["media_url"], "+14155550100", {}, 0)
        c.attempted_at, c.known_ids = values["attempted_at"], fields.get("known", frozenset())
        return c

    first = sent_found(client, claim()).gateway_id
    assert first in {earlier, later}
    other = ({earlier, later} - {first}).pop()
    assert sent_found(client, claim(known=frozenset({first}))).gateway_id == other
    assert sent_found(client, claim(known=frozenset({earlier, later}))) is None
    assert sent_found(client, claim(body="Hi Bo")) is None
    assert sent_found(client, claim(media_url="https://example.com/a.jpg")) is None
    assert sent_found(client, claim(attempted_at=attempted + timedelta(minutes=5))) is None
    assert sent_found(client, claim(attempted_at=None)) is None  # no earlier attempt: no ask
    assert len(gateway.listings()) == 6
