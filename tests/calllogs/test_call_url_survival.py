"""Every call URL the admin shows survives every value VICIdial can put into it.

Each kind (Start, Dispo, No-Agent) is filled and sent exactly as VICIdial does
(``simulators.vicidial.callurl``) with hostile values (spaces, ``&``, ``=``, ``#``, ``%``,
non-ASCII, empty, unfilled) to a real gunicorn serving the app with the project's gunicorn.conf.py
(its GETs take the WSGI fast path), and through the Django view: no call is lost (every
request answered 2xx and its event stored) and no value is stored cut short.
"""

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from calllogs import services
from calllogs.callurl import READ, URL_VARIABLES
from calllogs.models import CallLog, ServerHook, WebhookEvent
from simulators.vicidial import callurl as vicidial
from tests.e2e.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]

EPOCH = int((timezone.now() - timedelta(hours=1)).timestamp())
HOSTILE = [
    "agént 8",
    "a&b=c",
    "x#y",
    "100%",
    "50%25 off",
    "1+1",
    "日本",
    "  padded  ",
    "a=b&c=d#e%f g",
    'it\'s "q"',
    "",
]
TEXT = ["vendor_lead_code", "user", "campaign", "recording_filename", "term_reason"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"gunicorn did not listen on {port} within {seconds}s")


@pytest.fixture
def gunicorn(transactional_db):
    """The app under the project's gunicorn.conf.py on a free port; reaped at teardown."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "4",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        + ["--bind", f"127.0.0.1:{port}", "config.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def call_values(n: int, text: str, kind: str) -> dict[str, str]:
    """What VICIdial holds for call ``n``: every text variable set to ``text``; ``n % 4 ==
    3`` leaves the vendor code, call id and phone unfilled."""
    values = {
        "lead_id": str(100 + n),
        "list_id": "1001",
        "phone_number": "4155550100",
        "dispo": {"start": "NEW", "dispo": "SALE", "noagent": "NA"}[kind],
        "status": "NA",
        "talk_time": "42",
        "call_id": f"V1203{n:05d}0000000100",
        "uniqueid": f"{EPOCH + n}.{n}",
        "epoch": str(EPOCH + n),
        **dict.fromkeys(TEXT, text),
    }
    if n % 4 == 3:
        for name in ("vendor_lead_code", "call_id", "phone_number"):
            del values[name]
    return values


def expected_fields(kind: str, values: dict[str, str]) -> dict[str, str]:
    """What the receiver must store: each variable it reads for the kind, exactly as
    VICIdial held it (trimmed; empty means absent)."""
    fields = {"kind": kind}
    for name, aliases in READ[kind].items():
        value = values.get(aliases[0], "").strip()
        if value:
            fields[name] = value
    return fields


def requests_for(port: int, hook: ServerHook) -> list[tuple[str, bytes, dict[str, str]]]:
    base = f"http://127.0.0.1:{port}/"
    cases = []
    for kind in URL_VARIABLES:
        url = services.webhook_url(hook=hook, base_url=base, kind=kind)
        for n, text in enumerate(HOSTILE):
            values = call_values(len(cases) + n, text, kind)
            filled = vicidial.fill(url, kind, values)
            cases.append((kind, vicidial.request_of(filled, kind)[2], values))
    return cases


@pytest.mark.django_db(transaction=True)
def test_every_call_url_kind_survives_hostile_values(call_server, gunicorn, client):
    hook = ServerHook.objects.get(server=call_server)
    cases = requests_for(gunicorn, hook)
    answers = [vicidial.send("127.0.0.1", gunicorn, request) for _, request, _ in cases]
    assert answers == [200] * len(cases)
    stored = {e["uniqueid"]: e for e in WebhookEvent.objects.values_list("params", flat=True)}
    assert len(stored) == len(cases)  # zero lost calls
    for kind, _, values in cases:
        assert stored[values["uniqueid"]] == expected_fields(kind, values), (kind, values)
    # the same requests through the Django view (a POST-capable door) store the same
    WebhookEvent.objects.all().delete()
    for kind, request, values in cases:
        response = client.get(vicidial.target_of(request))
        assert response.status_code == 200, (kind, values, response.content)
    again = {e["uniqueid"]: e for e in WebhookEvent.objects.values_list("params", flat=True)}
    assert again == stored
    services.webhook_events_drain()
    assert CallLog.objects.count() == len(cases)


@pytest.mark.django_db(transaction=True)
def test_the_old_dispo_url_lost_calls_on_the_same_values(call_server, gunicorn):
    """Why the URLs changed: the Dispo URL with raw text (user, recording) that the admin
    showed before loses a call on a non-ASCII agent id and cuts a value at a raw '&'."""
    old = (
        f"VARhttp://127.0.0.1:{gunicorn}/webhooks/vici/call/?server={call_server.pk}"
        "&token=tok-123&kind=dispo&uniqueid=--A--uniqueid--B--&user=--A--user--B--"
        "&recording_filename=--A--recording_filename--B--"
    )
    lost = vicidial.fill(old, "dispo", call_values(0, "agént 8", "dispo"))
    assert vicidial.send("127.0.0.1", gunicorn, vicidial.request_of(lost, "dispo")[2]) == 400
    cut = vicidial.fill(old, "dispo", call_values(1, "a&b=c", "dispo"))
    assert vicidial.send("127.0.0.1", gunicorn, vicidial.request_of(cut, "dispo")[2]) == 200
    [event] = WebhookEvent.objects.values_list("params", flat=True)
    assert "user" not in event  # raw text is not read: "a" would have been stored as whole


def test_the_sender_fills_and_encodes_as_vicidial_does():
    url = "VARhttp://h:1/p?a=--A--user--B--&b=--A--vendor_lead_code--B--&c=--A--term_reason--B--"
    values = {"user": "agént 8", "vendor_lead_code": " v&1#x ", "term_reason": "AGENT"}
    dispo = vicidial.fill(url, "dispo", values)
    assert dispo == "http://h:1/p?a=agént 8&b=v%261%23x&c=AGENT"  # raw, encoded, raw
    assert vicidial.fill(url, "start", values) == (
        "http://h:1/p?a=ag%C3%A9nt+8&b=v%261%23x&c=--A--term_reason--B--"  # never filled
    )
    noagent = vicidial.fill(url, "noagent", {**values, "vendor_lead_code": "v&1#x"})
    assert noagent == "http://h:1/p?a=agént+8&b=v&1#x&c=--A--term_reason--B--"
    assert vicidial.request_line_wget(noagent)[2].startswith(b"GET /p?a=ag%C3%A9nt+8&b=v&1 ")
    assert vicidial.request_line_php(dispo)[2].startswith("GET /p?a=agént 8&b=".encode())
