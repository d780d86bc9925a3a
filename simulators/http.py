"""Plumbing shared by the HTTP doubles of external systems (VICIdial, the WhatsApp gateway)."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """Keep-alive (HTTP/1.1), no access log, no Nagle delay."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and
        # delayed ACKs add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class DoubleServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen() backlog: a full backlog drops SYNs (1 s retries)


def serve(handler: type[BaseHTTPRequestHandler], port: int = 0) -> DoubleServer:
    """Start a threaded server on 127.0.0.1 (``port`` 0: any free one) in the background."""
    server = DoubleServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Lifecycle:
    """stop / down / up of a double whose ``start()`` sets ``_server`` and ``port``."""

    _server: DoubleServer | None = None
    port: int = 0

    def start(self):
        raise NotImplementedError

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def down(self) -> None:
        """Refuse connections (the port stays reserved for up())."""
        self.stop()

    def up(self) -> None:
        self.start()


def closed_port() -> int:
    """A local port nothing listens on (bound then released): connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
