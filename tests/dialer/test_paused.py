"""Paused means paused: nothing calls a paused or inactive VICIdial server but "Resume".

Checked from the VICIdial double's own record of the requests it received."""

import pytest
from django.db import connection

from core.errors import ApplicationError
from dialer import services
from dialer.exceptions import ServerPausedError
from dialer.models import OutboxItem, ViciServer
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db


def enqueue(workspace, vici_list, n: int) -> list[int]:
    ids = make_leads(workspace, n)
    services.outbox_enqueue_add(lead_ids=ids, vici_list_id=vici_list.pk)
    return ids


def test_client_for_refuses_a_paused_server(server, vici):
    services.server_pause(server_id=server.pk, reason="ERROR: Login incorrect")
    with pytest.raises(ServerPausedError) as info:
        services.client_for(server)  # the instance in hand predates the pause
    assert isinstance(info.value, ApplicationError)
    assert info.value.code == "server_paused"
    assert vici.state.requests == []


def test_client_for_refuses_an_inactive_server_even_to_resume(server, vici):
    ViciServer.objects.filter(pk=server.pk).update(is_active=False)
    for resuming in (False, True):
        with pytest.raises(ServerPausedError) as info:
            services.client_for(server, resuming=resuming)
        assert info.value.code == "server_paused"
    assert vici.state.requests == []


def test_a_drain_of_a_paused_server_sends_nothing(workspace, server, vici_list, vici):
    enqueue(workspace, vici_list, 5)
    services.server_pause(server_id=server.pk, reason="ERROR: Login incorrect")
    stats = services.outbox_drain(server_id=server.pk)
    assert stats.paused and stats.sent == 0
    assert vici.state.requests == []
    assert set(OutboxItem.objects.values_list("state", "attempts")) == {("pending", 0)}


@pytest.mark.django_db(transaction=True)
def test_a_pause_from_elsewhere_stops_a_running_drain_within_its_batch(
    workspace, server, vici_list, vici, settings
):
    """Another drain or the call-log sync pauses the server while this drain runs: it
    notices at the next chunk it records, stops its senders, gives back what it claimed but
    did not send, claims nothing more, and the next drain sends nothing."""
    settings.DIALER_BATCH_SIZE = 100
    ViciServer.objects.filter(pk=server.pk).update(max_concurrency=1)
    enqueue(workspace, vici_list, 200)
    vici.latency = 0.005
    seen_at_pause: list[int] = []

    def pause_at_the_fifth_add(params):
        if params.get("function") == ["add_lead"] and len(vici.state.requests) == 4:
            try:
                services.server_pause(server_id=server.pk, reason="paused by another drain")
            finally:
                connection.close()  # this thread's connection
            seen_at_pause.append(len(vici.state.requests))

    vici.on_request = pause_at_the_fifth_add
    stats = services.outbox_drain(server_id=server.pk)
    vici.on_request = None
    assert seen_at_pause == [4]
    after_pause = len(vici.state.requests) - seen_at_pause[0]
    # one chunk of results (drain.CHUNK = 50) and what one sender sends while it is recorded
    assert stats.paused and 1 <= after_pause < 95
    assert OutboxItem.objects.filter(state="pending", attempts=0).count() == 200 - stats.sent
    assert not OutboxItem.objects.filter(state="in_flight").exists()
    before = len(vici.state.requests)
    assert services.outbox_drain(server_id=server.pk).paused
    assert len(vici.state.requests) == before


def test_resume_checks_the_login_with_one_call_and_stays_paused_if_it_fails(
    workspace, server, vici_list, vici
):
    services.server_pause(server_id=server.pk, reason="ERROR: Login incorrect")
    services.server_set_password(server=server, password="StillWrong1")
    with pytest.raises(ApplicationError) as info:
        services.server_resume(server=server)
    assert info.value.code == "login_failed" and "StillWrong1" not in info.value.message
    server.refresh_from_db()
    assert server.paused_until is not None
    assert "StillWrong1" not in server.paused_reason + server.last_error
    assert [r["function"] for r in vici.state.requests] == ["leadbrainlogincheck"]
    assert vici.state.users["crmapi"].failed == 1

    services.server_set_password(server=server, password="Secret123")
    assert services.server_resume(server=server) == "Resumed: the login works."
    server.refresh_from_db()
    assert server.paused_until is None and server.paused_reason == ""
    assert vici.state.users["crmapi"].failed == 0
    enqueue(workspace, vici_list, 2)
    assert services.outbox_drain(server_id=server.pk).sent == 2


def test_admin_resume_reports_a_login_that_still_fails(admin_client, server, vici):
    services.server_pause(server_id=server.pk, reason="ERROR: Login incorrect")
    services.server_set_password(server=server, password="StillWrong1")
    page = admin_client.post(
        "/admin/dialer/viciserver/",
        {"action": "resume", "_selected_action": [server.pk]},
        follow=True,
    ).content.decode()
    assert "Still paused: VICIdial refused the login" in page
    assert "StillWrong1" not in page
    server.refresh_from_db()
    assert server.paused_until is not None
