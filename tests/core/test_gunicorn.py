"""What only a real server shows: the connection after a 413, the access log, a refused
client's connection parked; and the config's worker hook."""

import gc
import http.client
import os
import runpy
import time
import uuid
from pathlib import Path

import psutil
import pytest
import requests

from leads.models import Workspace
from tests.conftest import make_api_key
from tests.gunicorn_server import ROOT, Gunicorn


@pytest.fixture
def server(transactional_db, tmp_path):
    gunicorn = Gunicorn(tmp_path / "access.log", MAX_BODY_BYTES="1000")
    try:
        gunicorn.wait_ready()
        yield gunicorn
    finally:
        gunicorn.stop()


def test_a_413_does_not_break_the_next_request_on_the_connection(server):
    with requests.Session() as session:
        big = session.post(
            f"{server.url}/api/v1/leads/",
            data=b"x" * 200_000,
            headers={"Content-Type": "application/json", "Authorization": "Api-Key nope"},
            timeout=10,
        )
        assert big.status_code == 413
        assert big.json()["code"] == "payload_too_large"
        assert big.headers["Connection"] == "close"
        for _ in range(3):  # the client opens a fresh connection; keep-alive goes on
            after = session.get(f"{server.url}/health", timeout=10)
            assert after.status_code == 200
            assert after.json() == {"status": "ok"}
            assert after.headers["Connection"] == "keep-alive"


def test_a_body_under_the_limit_keeps_the_connection(server):
    with requests.Session() as session:
        small = session.post(
            f"{server.url}/api/v1/leads/", data=b"{}", headers={"Authorization": "Api-Key nope"}
        )
        assert small.status_code in (401, 403)
        assert small.headers["Connection"] == "keep-alive"


def test_the_access_log_masks_secret_query_values(server):
    secret = "tok-SeCrEt-4242"
    with requests.Session() as session:
        session.get(f"{server.url}/metrics", params={"token": secret}, timeout=10)
        session.get(
            f"{server.url}/webhooks/vici/call/",
            params={"server": "1", "token": secret, "pass": secret, "uniqueid": "1.2"},
            timeout=10,
        )
        session.get(f"{server.url}/health", params={"api_key": secret, "status": "new"}, timeout=10)
    lines = server.log_lines(4)  # with the readiness probe
    log = "\n".join(lines)
    assert secret not in log
    assert "/metrics?token=********" in log
    assert "token=********&pass=********&uniqueid=1.2" in log
    assert "api_key=********&status=new" in log


def test_a_refused_key_gets_its_answer_at_once_and_its_connection_read_a_second_later(
    transactional_db, tmp_path
):
    """The project's server parks the connection of a 429 (core.parking): a client that
    ignores Retry-After gets its next answer after API_REFUSAL_PARK_SECONDS, while another
    workspace on another connection is served meanwhile."""
    limited = Workspace.objects.create(name="Flooder", slug="flooder", api_rate_per_minute=1)
    calm = Workspace.objects.create(name="Calm", slug="calm")
    server = Gunicorn(
        tmp_path / "access.log",
        CACHE_KEY_PREFIX=f"park-{uuid.uuid4().hex}",  # limits counted afresh
        API_REFUSAL_PARK_SECONDS="3",
    )
    try:
        server.wait_ready()
        flood = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        other = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        flood_key, calm_key = make_api_key(limited), make_api_key(calm)
        assert status(flood, flood_key) == 200
        assert status(flood, flood_key) == 429  # answered at once, then parked
        started = time.monotonic()
        flood.request("GET", "/api/v1/leads/", headers=auth(flood_key))
        for _ in range(3):
            assert status(other, calm_key) == 200
        response = flood.getresponse()
        response.read()
        assert response.status == 429
        assert time.monotonic() - started >= 2.5  # Retry-After is over 3 s at 1/min
    finally:
        server.stop()


def auth(key: str) -> dict:
    return {"Authorization": f"Api-Key {key}"}


def status(conn: http.client.HTTPConnection, key: str) -> int:
    conn.request("GET", "/api/v1/leads/", headers=auth(key))
    response = conn.getresponse()
    response.read()
    return response.status


def test_a_worker_freezes_its_loaded_heap_out_of_the_garbage_collector():
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    before = gc.get_freeze_count()
    try:
        hooks["post_worker_init"](None)
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()


def listening_inodes(port: int) -> set[str]:
    """The inodes of the IPv4 sockets listening on ``port`` (``/proc/net/tcp``, state 0A)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:[") : -1])
    return found


def test_each_worker_listens_on_a_socket_of_its_own(transactional_db, tmp_path):
    """SO_REUSEPORT: the kernel spreads new connections over the workers, not whichever
    worker woke first on one shared socket (bench/README.md: one of two then held up to 38
    of 50 keep-alive clients)."""
    gunicorn = Gunicorn(tmp_path / "access.log", WEB_CONCURRENCY="2")
    try:
        gunicorn.wait_ready()
        workers = psutil.Process(gunicorn.proc.pid).children()
        assert len(workers) == 2
        listening = listening_inodes(gunicorn.port)
        assert len(listening) == 2
        assert [len(socket_inodes(w.pid) & listening) for w in workers] == [1, 1]
        assert not socket_inodes(gunicorn.proc.pid) & listening  # the arbiter accepts nothing
    finally:
        gunicorn.stop()


@pytest.mark.parametrize(
    ("value", "own_sockets"), [(None, True), ("1", True), ("0", False), ("false", False)]
)
def test_web_reuse_port_reads_as_every_boolean_setting(monkeypatch, value, own_sockets):
    if value is None:
        monkeypatch.delenv("WEB_REUSE_PORT", raising=False)
    else:
        monkeypatch.setenv("WEB_REUSE_PORT", value)
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["reuse_port"] is own_sockets
