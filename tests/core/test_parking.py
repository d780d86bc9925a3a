"""Parked connections (core.parking, core.gunicorn_worker): answered at once, then not read
again until the parking ends, without holding a thread; a stopping worker lets them go."""

import http.client
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.parking import park_connection, take_parking
from tests.gunicorn_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_hint_is_read_once_and_only_when_asked():
    take_parking()
    assert take_parking() == 0.0
    park_connection(0)
    park_connection(-1)
    assert take_parking() == 0.0
    before = time.monotonic()
    park_connection(2.5)
    until = take_parking()
    assert before + 2.5 <= until <= time.monotonic() + 2.5
    assert take_parking() == 0.0  # forgotten once read


class Server:
    """gunicorn with the project's worker class and one thread, serving tests/parking_app."""

    def __init__(self, *extra: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-k",
                "core.gunicorn_worker.ParkingThreadWorker",
                "-w",
                "1",
                "--threads",
                "1",  # a parked connection holding a thread would block every other one
                "--graceful-timeout",
                "25",
                "--keep-alive",
                "60",
                "--no-control-socket",
                "-b",
                f"127.0.0.1:{self.port}",
                *extra,
                "tests.parking_app:application",
            ],
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get(self.connect())
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)

    @staticmethod
    def get(conn: http.client.HTTPConnection, park: float = 0) -> bytes:
        conn.request("GET", "/", headers={"X-Park": str(park)} if park else {})
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Connection") != "close"
        return response.read()


@pytest.fixture
def server(request):
    running = Server(*getattr(request, "param", ()))
    yield running
    running.proc.kill()
    running.proc.wait(timeout=10)


def answered(conn: http.client.HTTPConnection) -> bool:
    readable, _, _ = select.select([conn.sock], [], [], 0)
    return bool(readable)


def test_a_parked_connection_is_answered_then_not_read_until_the_parking_ends(server):
    parked = server.connect()
    assert server.get(parked, park=4) == b"ok"  # the answer itself goes out at once
    started = time.monotonic()
    parked.request("GET", "/")  # sent at once; read by the server only in 4 s

    other = server.connect()  # meanwhile the only thread serves everyone else
    for _ in range(3):
        assert server.get(other) == b"ok"
    assert not answered(parked)

    response = parked.getresponse()  # bounded by the connection's 20 s timeout
    assert response.read() == b"ok"
    assert time.monotonic() - started >= 3.5
    assert server.get(parked) == b"ok"  # kept alive, and no longer parked


def test_without_parking_the_next_request_is_read_at_once(server):
    conn = server.connect()
    server.get(conn)
    started = time.monotonic()
    server.get(conn)
    assert time.monotonic() - started < 3  # a parking of even 3 s would show


@pytest.mark.parametrize("server", [("--worker-connections", "4")], indirect=True)
def test_connections_of_clients_that_left_while_parked_are_released(server):
    # Four connections at most: were the six that leave while parked never closed, the
    # worker would stop accepting and the last connection would never be answered.
    for _ in range(6):
        gone = server.connect()
        server.get(gone, park=0.5)
        gone.close()
    after = server.connect()
    for _ in range(3):
        assert server.get(after) == b"ok"


def test_a_stopping_worker_does_not_wait_for_parked_connections(server):
    parked = server.connect()
    server.get(parked, park=60)
    started = time.monotonic()
    server.proc.terminate()
    server.proc.wait(timeout=20)  # the graceful timeout is 25 s, the parking 60 s
    assert time.monotonic() - started < 20
    assert server.proc.returncode == 0
