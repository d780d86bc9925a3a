"""The call-URL door: what a request must be to be stored, through the Django view and the
WSGI fast path alike (bad input is a 4xx, never a 500), and what it never does (apply a
Start URL's ``dispo``, compare tokens by ``==``, log the token)."""

import json
import logging
from datetime import timedelta

import pytest
from django.test.client import RequestFactory
from django.utils import timezone

from calllogs import services
from calllogs.models import CallLog, WebhookEvent
from config.wsgi import application  # at import: it runs django.setup(), which reconfigures

# logging (and would drop caplog's handler if imported inside a test)
from leads.models import Lead, LeadEvent
from tests.routing.factories import make_leads

# ``config.wsgi`` is imported with the module: it runs django.setup(), which reconfigures
# logging and would drop caplog's handler if a test imported it first.
pytestmark = pytest.mark.django_db

EPOCH = int((timezone.now() - timedelta(hours=1)).timestamp())
UID = f"{EPOCH}.77"


@pytest.fixture
def lead(workspace):
    [lead_id] = make_leads(workspace, 1)
    Lead.objects.filter(pk=lead_id).update(vici_lead_id=8, status="routed")
    return Lead.objects.get(pk=lead_id)


def via_view(client, query: str) -> tuple[int, dict]:
    response = client.get(f"/webhooks/vici/call/?{query}")
    return response.status_code, response.json()


def via_fast_path(client, query: str) -> tuple[int, dict]:
    environ = RequestFactory().get("/webhooks/vici/call/").environ
    environ["QUERY_STRING"] = query
    answer = {}
    body = b"".join(application(environ, lambda status, headers: answer.update(s=status)))
    return int(answer["s"].split()[0]), json.loads(body)


DOORS = [via_view, via_fast_path]


@pytest.mark.parametrize("send", DOORS)
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("uniqueid=" + "1701000000." + "9" * 60, "uniqueid"),  # over the column's 50
        ("uniqueid=1701000000.9x", "uniqueid"),
        ("uniqueid=%C2%B2701000000.9", "uniqueid"),  # "²" is a digit to str.isdigit()
        ("uniqueid=9999999999.1", "uniqueid"),  # year 2286: not a plausible call time
        ("talk_time=99999999999", "talk_time"),  # out of the int column's range
        ("talk_time=-5", "talk_time"),
        ("lead_id=%C2%B2", "lead_id"),
        ("list_id=12ab", "list_id"),
        ("phone_number=415+555+0100", "phone_number"),
        ("dispo=TOOLONG1", "dispo"),
        ("kind=other", "kind"),
    ],
)
def test_values_vicidial_cannot_send_are_a_400_and_nothing_is_stored(
    client, call_server, send, extra, field
):
    query = f"server={call_server.pk}&token=tok-123&kind=dispo&uniqueid={UID}&{extra}"
    query = query.replace("kind=dispo&", "") if extra.startswith("kind=") else query
    if extra.startswith("uniqueid="):
        query = query.replace(f"uniqueid={UID}&", "")
    status, body = send(client, query)
    assert status == 400 and field in body["errors"], body
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("send", DOORS)
@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("server=%C2%B2&token=anything", 403),
        ("server=99999999999999&token=tok-123", 403),
        ("server=-1&token=tok-123", 403),
        ("server=1&token=%00%ff%fe", 400),
        ("server={server}&token=tok-123&uniqueid={uid}%00", 400),
        ("server={server}&token=tok-123%00&uniqueid={uid}", 400),
        ("server={server}%00&token=tok-123&uniqueid={uid}", 400),
    ],
)
def test_malformed_servers_tokens_and_nul_bytes_are_a_4xx(client, call_server, send, query, status):
    query = query.format(server=call_server.pk, uid=UID)
    assert send(client, query)[0] == status
    assert not WebhookEvent.objects.exists()


def test_a_vendor_code_of_non_ascii_digits_is_kept_as_text_and_never_crashes_the_drain(
    client, call_server, lead
):
    query = f"server={call_server.pk}&token=tok-123&lead_id=8&vendor_lead_code=%C2%B2"
    query += f"&uniqueid={UID}"
    assert via_view(client, query)[0] == 200
    assert services.webhook_events_drain() == 1
    assert CallLog.objects.get().lead_id == lead.pk  # through the Vici lead id instead


def test_the_token_is_checked_in_constant_time_against_the_servers_own(
    client, call_server, monkeypatch
):
    import hmac

    from calllogs.services import webhook as webhook_module

    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(webhook_module.hmac, "compare_digest", spy)
    assert services.webhook_server(server=str(call_server.pk), token="tok-124") is None
    assert services.webhook_server(server=str(call_server.pk), token="tok-123") == call_server.pk
    assert compared == [(b"tok-123", b"tok-124"), (b"tok-123", b"tok-123")]


@pytest.mark.parametrize("send", DOORS)
def test_a_start_urls_dispo_is_the_status_before_the_call_and_never_applied(
    client, call_server, lead, send
):
    Lead.objects.filter(pk=lead.pk).update(status="callback")
    start = (
        f"server={call_server.pk}&token=tok-123&kind=start&lead_id=8"
        f"&vendor_lead_code={lead.pk}&uniqueid={UID}&dispo=CALLBK&talk_time=0&user=agent%C3%A98"
    )
    assert send(client, start)[0] == 200
    [stored] = WebhookEvent.objects.values_list("params", flat=True)
    assert "dispo" not in stored and stored["user"] == "agenté8"
    services.webhook_events_drain()
    call = CallLog.objects.get()
    assert (call.status, call.agent) == ("", "agenté8")
    assert not LeadEvent.objects.filter(lead_id=lead.pk, kind="dispositioned").exists()
    assert not LeadEvent.objects.filter(lead_id=lead.pk, kind="status_changed").exists()
    lead.refresh_from_db()
    assert lead.status == "callback"
    dispo = f"server={call_server.pk}&token=tok-123&kind=dispo&lead_id=8&uniqueid={UID}&dispo=NI"
    assert send(client, dispo)[0] == 200
    services.webhook_events_drain()
    assert CallLog.objects.get().status == "NI"
    lead.refresh_from_db()
    assert lead.status == "not_interested"


def test_a_start_then_a_dispo_of_b_ends_as_b(client, call_server, lead):
    start = f"server={call_server.pk}&token=tok-123&kind=start&lead_id=8&uniqueid={UID}&dispo=NEW"
    dispo = f"server={call_server.pk}&token=tok-123&kind=dispo&lead_id=8&uniqueid={UID}&dispo=B"
    for order in ((start, dispo), (dispo, start), (start, dispo, start)):
        CallLog.objects.all().delete()
        for query in order:  # applied one by one, in this order
            assert via_fast_path(client, query)[0] == 200
            services.webhook_events_drain()
        assert CallLog.objects.get().status == "B"


def test_an_error_in_the_fast_path_is_answered_there_not_left_to_gunicorn(
    client, call_server, monkeypatch
):
    from calllogs import fastpath

    def boom(**kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(fastpath, "webhook_receive", boom)
    status, body = via_fast_path(client, f"server={call_server.pk}&token=tok-123&uniqueid={UID}")
    assert status == 500 and body["code"] == "error"


def test_the_token_never_reaches_a_log_line(client, call_server, lead, caplog, monkeypatch):
    from calllogs import fastpath

    token = "tok-123"
    base = f"server={call_server.pk}&token={token}"
    queries = [
        f"{base}&uniqueid={UID}&dispo=SALE&vendor_lead_code={lead.pk}",  # stored
        f"server={call_server.pk}&token={token}x&uniqueid={UID}",  # 403
        f"{base}&uniqueid=nope",  # 400
        f"{base}&uniqueid={UID}%00",  # NUL
    ]
    with caplog.at_level(logging.DEBUG):
        for query in queries:
            via_view(client, query)
            via_fast_path(client, query)
        services.webhook_events_drain()

        def boom(**kwargs):
            raise RuntimeError("unexpected")

        monkeypatch.setattr(fastpath, "webhook_receive", boom)
        via_fast_path(client, queries[0])
    assert caplog.records  # the 4xx answers and the failure were logged
    formatter = logging.Formatter()
    for record in caplog.records:
        line = formatter.format(record)
        assert token not in line and token not in repr(record.args), line


def test_the_wsgi_fast_path_answers_like_the_view(call_server, lead):
    import json

    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections
    from django.test.client import RequestFactory

    def get(**params):
        environ = RequestFactory().get("/webhooks/vici/call/", params).environ
        answer = {}
        body = b"".join(application(environ, lambda s, h: answer.update(status=s)))
        return int(answer["status"].split()[0]), json.loads(body)

    base = {
        "server": call_server.pk,
        "token": "tok-123",
        "uniqueid": UID,
        "dispo": "SALE",
        "vendor_lead_code": str(lead.pk),
        "lead_id": "--A--lead_id--B--",
    }
    django_requests = []

    def started(sender, **kwargs):
        django_requests.append(sender)

    request_started.connect(started, weak=False, dispatch_uid="count-requests")
    try:
        assert get(**base) == (200, {"ok": True, "queued": True})
        assert django_requests == []  # answered before Django's request cycle
        # Everything else still goes through Django (as the test client does, keep Django
        # from closing the test's connection at the end of that request).
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            environ = RequestFactory().get("/health").environ
            b"".join(application(environ, lambda s, h: None))
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        assert len(django_requests) == 1
    finally:
        request_started.disconnect(dispatch_uid="count-requests")
    assert get(**{**base, "token": "nope"})[0] == 403
    status, body = get(**{**base, "uniqueid": "--A--uniqueid--B--"})
    assert status == 400 and "uniqueid" in body["errors"]
    [stored] = WebhookEvent.objects.values_list("params", flat=True)
    assert "token" not in stored and stored["dispo"] == "SALE"
    assert services.webhook_events_drain() == 1
    lead.refresh_from_db()
    assert lead.status == "sale"


def test_stored_events_wake_the_drain_at_most_once_a_second(
    client, call_server, monkeypatch, django_capture_on_commit_callbacks
):
    from calllogs import tasks

    woken = []

    class Task:
        def apply_async(self, **kwargs):
            woken.append(kwargs)

    monkeypatch.setattr(tasks, "webhook_events_drain_task", Task())
    monkeypatch.setattr(tasks, "_last_wake", 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            params = {"server": call_server.pk, "token": "tok-123", "uniqueid": f"{EPOCH}.{n}"}
            assert client.get("/webhooks/vici/call/", params).status_code == 200
    assert WebhookEvent.objects.count() == 3
    assert woken == [{"countdown": 1.0}]  # one task for the three, after the second is over
