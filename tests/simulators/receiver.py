"""A local HTTP server that keeps every request it gets (method, target, headers, body)."""

import threading
from dataclasses import dataclass

from simulators.http import Lifecycle, QuietHandler, serve


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class Receiver(Lifecycle):
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.arrived = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(QuietHandler):
            def do_GET(self):
                self._keep(b"")

            def do_POST(self):
                self._keep(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _keep(self, body: bytes) -> None:
                with receiver.arrived:
                    receiver.requests.append(
                        Request(self.command, self.path, dict(self.headers.items()), body)
                    )
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self._server = serve(Handler, self.port)
        self.port = self._server.server_address[1]
        return self

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Request]:
        """The requests once ``n`` arrived (a bounded wait); fails after ``timeout``."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= n, timeout=timeout):
                raise AssertionError(f"{len(self.requests)} of {n} requests in {timeout}s")
            return list(self.requests)
