"""No form of the VICIdial password is ever shown back, logged or stored in an error text.

VICIdial echoes a bad password stripped to ``[-_0-9a-zA-Z]``, and ``requests`` and urllib3
put a request's URL in exception texts and log lines; every string that Leadbrain stores or
logs from a Vici call is checked here for every form of the password."""

import json
import logging
import socket

import pytest
import requests

from core.errors import ApplicationError
from core.secrets import secret_forms
from dialer import services
from dialer.client import ViciClient, ViciLoginError, ViciTransportError
from dialer.models import OutboxItem, ViciServer
from leads.models import LeadEvent
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db

ODD = "Wr0ng!Pa$$ word"  # VICIdial echoes it as "Wr0ngPaword"


def forms_of(password: str) -> set[str]:
    forms = secret_forms(password)
    assert "Wr0ngPaword" in forms and "Wr0ng%21Pa%24%24+word" in forms
    return forms


def leaks(text: str, forms: set[str]) -> list[str]:
    return [form for form in forms if form in text]


def everything_stored_and_logged(caplog) -> str:
    server_texts = [
        f"{s.paused_reason}\n{s.last_error}" for s in ViciServer.objects.all().order_by("pk")
    ]
    items = [f"{i.last_response}\n{i.last_error}" for i in OutboxItem.objects.all()]
    events = [f"{e.message}\n{json.dumps(e.data)}" for e in LeadEvent.objects.all()]
    logged = [r.getMessage() for r in caplog.records] + [caplog.text]
    return "\n".join(server_texts + items + events + logged)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def test_the_double_echoes_a_bad_password_stripped_like_vicidial(vici):
    answer = requests.post(
        vici.url,
        data={"function": "list_info", "user": "crmapi", "pass": ODD, "source": "lb"},
        timeout=5,
    )
    assert answer.status_code == 200
    assert answer.text == "ERROR: Login incorrect, please try again: |crmapi|Wr0ngPaword|BAD|\n"


def test_the_client_scrubs_the_stripped_echo_and_never_puts_the_password_in_a_url(vici, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 logs every request line at DEBUG
    client = ViciClient(url=vici.url, user="crmapi", password=ODD, source="lb", timeout=2)
    with pytest.raises(ViciLoginError) as info:
        client.list_info(list_id=1001)
    text = f"{info.value.message}\n{info.value.raw}\n{caplog.text}"
    assert "|crmapi|********|BAD|" in info.value.raw
    assert leaks(text, forms_of(ODD)) == []


def test_a_transport_error_is_its_type_and_host_only(caplog):
    caplog.set_level(logging.DEBUG)
    port = closed_port()
    url = f"http://127.0.0.1:{port}/vicidial/non_agent_api.php"
    client = ViciClient(url=url, user="crmapi", password=ODD, source="lb", timeout=2)
    with pytest.raises(ViciTransportError) as info:
        client.list_info(list_id=1001)
    assert info.value.message == "NewConnectionError talking to 127.0.0.1"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert any("Retrying" in r.getMessage() for r in caplog.records)  # urllib3 did log
    assert leaks(caplog.text, forms_of(ODD)) == []


def test_a_bad_login_with_odd_characters_leaves_the_password_nowhere(
    workspace, server, vici_list, vici, caplog
):
    """A password stored before the letters-and-digits rule (or typed around the form)."""
    caplog.set_level(logging.DEBUG)
    services.server_set_password(server=server, password=ODD)
    services.outbox_enqueue_add(lead_ids=make_leads(workspace, 3), vici_list_id=vici_list.pk)
    stats = services.outbox_drain(server_id=server.pk)
    assert stats.paused
    assert vici.state.requests[0]["pass"] == "Wr0ngPaword"  # what VICIdial saw and echoed
    server.refresh_from_db()
    assert "Login incorrect" in server.paused_reason and "********" in server.paused_reason
    assert leaks(everything_stored_and_logged(caplog), forms_of(ODD)) == []


def test_a_refused_connection_leaves_the_password_and_the_url_nowhere(
    workspace, server, vici_list, caplog, settings, api_client
):
    caplog.set_level(logging.DEBUG)
    settings.DIALER_MAX_ATTEMPTS = 1  # the item dies at once: its lead gets push_failed
    ViciServer.objects.filter(pk=server.pk).update(
        api_url=f"http://127.0.0.1:{closed_port()}/vicidial/non_agent_api.php"
    )
    services.server_set_password(server=server, password=ODD)
    [lead_id] = make_leads(workspace, 1)
    services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=vici_list.pk)
    assert services.outbox_drain(server_id=server.pk).sent == 0
    item = OutboxItem.objects.get()
    assert (item.state, item.last_error) == ("dead", "NewConnectionError talking to 127.0.0.1")
    server.refresh_from_db()
    assert server.last_error == "NewConnectionError talking to 127.0.0.1"
    event = LeadEvent.objects.get(lead_id=lead_id, kind="push_failed")
    assert event.message == "VICIdial push failed: VICIdial could not be reached (gave up retrying)"
    assert event.data == {"code": "transport", "operation": "add"}
    everything = everything_stored_and_logged(caplog)
    assert leaks(everything, forms_of(ODD)) == []
    assert "non_agent_api.php?" not in everything and "pass=" not in everything
    # what the partner's API key reads of the lead's history
    history = api_client.get(f"/api/v1/leads/{lead_id}/history/")
    assert history.status_code == 200
    assert leaks(history.content.decode(), forms_of(ODD)) == []
    assert "127.0.0.1" not in history.content.decode()


def test_a_vici_error_reaches_the_lead_history_as_a_fixed_message_and_code(
    workspace, server, vici_list, vici, monkeypatch
):
    def refuse(params):
        return f"ERROR: add_lead INVALID PHONE NUMBER LENGTH - {params['phone_number']}|crmapi\n"

    monkeypatch.setattr(vici, "_fn_add_lead", refuse)
    [lead_id] = make_leads(workspace, 1)
    services.outbox_enqueue_add(lead_ids=[lead_id], vici_list_id=vici_list.pk)
    assert services.outbox_drain(server_id=server.pk).failed == 1
    assert "INVALID PHONE NUMBER LENGTH" in OutboxItem.objects.get().last_response
    event = LeadEvent.objects.get(lead_id=lead_id, kind="push_failed")
    assert event.message == "VICIdial push failed: VICIdial refused the request"
    assert event.data == {"code": "vici_error", "operation": "add"}


def test_the_next_success_clears_the_servers_last_error(workspace, server, vici_list, vici):
    services.outbox_enqueue_add(lead_ids=make_leads(workspace, 2), vici_list_id=vici_list.pk)
    vici.fail_next(10)
    services.outbox_drain(server_id=server.pk)
    server.refresh_from_db()
    assert server.last_error == "HTTP 500 from VICIdial"
    vici.fail_next(0)
    OutboxItem.objects.update(next_attempt_at=server.created_at)
    assert services.outbox_drain(server_id=server.pk).sent == 2
    server.refresh_from_db()
    assert server.last_error == ""


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (ODD, "letters and digits only"),
        ("has space", "letters and digits only"),
        ("Pässword1", "letters and digits only"),  # str.isalnum() would let this through
        ("", "The password is empty."),
    ],
)
def test_a_password_from_the_environment_is_checked_like_the_admin_form(
    workspace, server, vici_list, vici, monkeypatch, value, problem
):
    monkeypatch.setenv("VICI1_PASS", value)
    ViciServer.objects.filter(pk=server.pk).update(api_password_env="VICI1_PASS")
    server.refresh_from_db()
    with pytest.raises(ApplicationError) as info:
        services.server_password(server)
    assert info.value.code == "bad_password"
    assert info.value.message.startswith("Environment variable VICI1_PASS: ")
    assert problem in info.value.message
    assert not value or value not in info.value.message  # never quoted back
    services.outbox_enqueue_add(lead_ids=make_leads(workspace, 1), vici_list_id=vici_list.pk)
    stats = services.outbox_drain(server_id=server.pk)
    assert stats.sent == 0 and stats.error == info.value.message
    server.refresh_from_db()
    assert server.last_error == info.value.message
    assert vici.state.requests == []  # a login that could never pass is never tried


def test_the_admin_form_refuses_an_environment_password_it_can_see_is_bad(
    admin_client, vici, monkeypatch
):
    monkeypatch.setenv("VICI9_PASS", ODD)
    data = {
        "name": "v9",
        "api_url": vici.url,
        "api_user": "crmapi",
        "password": "",
        "api_password_env": "VICI9_PASS",
        "source": "leadbrain",
        "timeout_seconds": "5",
        "max_concurrency": "4",
        "max_calls_per_hour": "1000",
        "is_active": "on",
        "db_url": "",
        "timezone": "UTC",
    }
    page = admin_client.post("/admin/dialer/viciserver/add/", data).content.decode()
    assert "VICI9_PASS: VICIdial API passwords must be letters and digits only" in page
    assert leaks(page, forms_of(ODD)) == []
    assert not ViciServer.objects.filter(name="v9").exists()
