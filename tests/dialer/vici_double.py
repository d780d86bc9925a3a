"""A small real VICIdial Non-Agent API server for tests and benchmarks.

``ViciApi`` (vici_api.py) answers exactly like ``non_agent_api.php`` (HTTP 200 always,
plain text, GET or form-encoded POST); this serves it over HTTP with knobs: ``latency``
(seconds per request), ``fail_next(n)`` (HTTP 500), ``drop_after_apply(n)`` (apply the
change, then close the connection without answering), ``down()`` / ``up()`` (connection
refused), ``on_request`` (a callback run as each request arrives).
"""

import socket
import threading
import time
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.dialer.vici_api import ApiUser, ViciApi, ViciState
from tests.http_double import Lifecycle, QuietHandler, serve

__all__ = ["ApiUser", "ViciDouble", "ViciState"]


class ViciDouble(ViciApi, Lifecycle):
    def __init__(self, *, user: str = "crmapi", password: str = "Secret123") -> None:
        super().__init__(user=user, password=password)
        self.lock = threading.Lock()
        self.latency = 0.0
        self.active = 0  # requests being answered now, and the most at once
        self.max_active = 0
        self.timeline: list[tuple[str, float, float]] = []  # (vendor_lead_code, start, end)
        self._fail = 0
        self._drop = 0
        # Called in the serving thread with each request's raw parameters, before it is
        # answered (a test's way to act at an exact point of a drain).
        self.on_request = None
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    # --- lifecycle and knobs -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/vicidial/non_agent_api.php"

    def start(self) -> "ViciDouble":
        double = self

        class Handler(QuietHandler):
            def do_GET(self):
                self._answer(urlsplit(self.path).query)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                query = urlsplit(self.path).query
                self._answer(query + ("&" if query and body else "") + body)

            def _answer(self, raw: str) -> None:
                started = time.monotonic()
                with double.lock:
                    double.active += 1
                    double.max_active = max(double.max_active, double.active)
                try:
                    if double.on_request is not None:
                        double.on_request(parse_qs(raw))
                    self._answer_now(raw)
                finally:
                    code = parse_qs(raw).get("vendor_lead_code", [""])[0]
                    with double.lock:
                        double.active -= 1
                        double.timeline.append((code, started, time.monotonic()))

            def _answer_now(self, raw: str) -> None:
                if double.latency:
                    time.sleep(double.latency)
                with double.lock:
                    if double._fail:
                        double._fail -= 1
                        self.send_response(500)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    drop = double._drop > 0
                    if drop:
                        double._drop -= 1
                    body = double.handle(raw)
                if drop:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = serve(Handler, self.port)
        self.port = self._server.server_address[1]
        return self

    def fail_next(self, n: int) -> None:
        self._fail = n

    def drop_after_apply(self, n: int) -> None:
        self._drop = n
