"""Paused means paused, one server's error stops no other, and what went wrong is kept on
the server's hook without a secret in it."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from calllogs import services, tasks
from calllogs.models import ServerHook
from core.errors import ApplicationError, ClientError
from core.secrets import secret_forms
from dialer import services as dialer_services
from dialer.models import ViciList, ViciServer
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushed(workspace, server, vici, dispositions):
    """A lead pushed to the Vici double (a server without a database: phone_number_log)."""
    vici_list = ViciList.objects.create(server=server, list_id=1001, campaign_id="C", name="L")
    [lead_id] = make_leads(workspace, 1)
    dialer_services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=vici_list.pk)
    assert dialer_services.outbox_drain(server_id=server.pk).sent == 1
    vici.state.requests.clear()
    return lead_id


def pause(server) -> None:
    ViciServer.objects.filter(pk=server.pk).update(
        paused_until=timezone.now() + timedelta(days=1), paused_reason="bad login"
    )


def test_a_paused_server_is_not_called_by_the_sync(server, vici, pushed):
    pause(server)
    assert services.calllogs_sync(server_id=server.pk) == 0
    assert vici.state.requests == []
    assert "paused (bad login)" in ServerHook.objects.get(server=server).last_error


def test_a_server_paused_while_the_sync_starts_is_not_called(server, vici, pushed, monkeypatch):
    from calllogs.services import sync

    def refuse(server):  # what dialer.services.client_for answers for a paused server
        raise ApplicationError("The server is paused.", code="server_paused")

    monkeypatch.setattr(sync, "client_for", refuse)
    assert services.calllogs_sync(server_id=server.pk) == 0
    assert vici.state.requests == []
    assert "paused" in ServerHook.objects.get(server=server).last_error


def test_a_bad_login_pauses_the_server_after_one_attempt_and_leaves_no_password(
    server, vici, pushed
):
    password = "Wr0ng!Pa$$ word"
    dialer_services.server_set_password(server=server, password=password)
    with pytest.raises(ClientError) as failed:
        services.calllogs_sync(server_id=server.pk)
    assert len(vici.state.requests) == 1
    server.refresh_from_db()
    assert server.paused_until and server.paused_until > timezone.now()
    stored = ServerHook.objects.get(server=server).last_error
    assert "Login incorrect" in stored
    for text in (stored, str(failed.value), server.paused_reason, server.last_error):
        assert not any(form in text for form in secret_forms(password)), text
    assert services.calllogs_sync(server_id=server.pk) == 0  # now paused: no second attempt
    assert len(vici.state.requests) == 1


def test_a_transport_error_is_kept_without_the_password(server, vici, pushed):
    vici.down()
    with pytest.raises(ClientError) as failed:
        services.calllogs_sync(server_id=server.pk)
    assert failed.value.retryable
    stored = ServerHook.objects.get(server=server).last_error
    assert stored.startswith("Sync failed")
    for text in (stored, str(failed.value)):
        assert not any(form in text for form in secret_forms("Secret123")), text
    assert failed.value.__suppress_context__  # the unscrubbed original is not chained


@pytest.fixture
def closed_db_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield f"mysql://reader:Db-S3cret@127.0.0.1:{sock.getsockname()[1]}/asterisk"
    sock.close()


def test_each_server_syncs_in_its_own_task_and_a_failing_one_stops_no_other(
    call_server, vici_db, workspace, closed_db_url, monkeypatch
):
    [lead_id] = make_leads(workspace, 1)
    broken = ViciServer.objects.create(
        name="a-broken", api_url="http://127.0.0.1:9/", api_user="u", db_url=closed_db_url
    )
    epoch = int((timezone.now() - timedelta(minutes=30)).timestamp())
    vici_db.add_call(
        uniqueid=f"{epoch}.1", lead_id=31, status="SALE", vendor_lead_code=str(lead_id)
    )
    queued = []
    monkeypatch.setattr(tasks.sync_server_task, "delay", lambda server_id: queued.append(server_id))
    assert tasks.sync_all_task() == 2
    assert queued == [broken.pk, call_server.pk]  # one task each
    for server_id in queued:  # as the workers run them
        tasks.sync_server_task.apply(args=[server_id], throw=False)
    assert ServerHook.objects.get(server=call_server).last_sync_rows == 1
    error = ServerHook.objects.get(server=broken).last_error
    assert error.startswith("Sync failed: Vici database") and "Db-S3cret" not in error
