"""What only a real server shows: the connection after a 413."""

import pytest
import requests

from tests.gunicorn_server import Gunicorn


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
