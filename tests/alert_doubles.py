"""A real local SMTP server (aiosmtpd) and a Slack-style webhook receiver for the alert
tests: each keeps what it received, and waits for it with a bounded wait."""

import json
import threading
import time
from email import message_from_bytes
from email.header import decode_header, make_header

from aiosmtpd.controller import Controller

from simulators.http import QuietHandler, closed_port, serve


class _Inbox:
    def __init__(self) -> None:
        self.items: list = []
        self.changed = threading.Condition()

    def add(self, item) -> None:
        with self.changed:
            self.items.append(item)
            self.changed.notify_all()

    def wait_for(self, n: int, seconds: float = 10.0) -> list:
        """At least ``n`` items, or fail after ``seconds``."""
        deadline = time.monotonic() + seconds
        with self.changed:
            while len(self.items) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {n} messages, got {len(self.items)}")
                self.changed.wait(left)
            return list(self.items)


class SmtpDouble(_Inbox):
    """aiosmtpd on 127.0.0.1; ``items`` are (recipients, subject, body)."""

    def __init__(self) -> None:
        super().__init__()
        self.port = closed_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        message = message_from_bytes(envelope.content)
        subject = str(make_header(decode_header(message["Subject"])))
        subject = subject.replace("\r\n", "").replace("\n", "")  # unfold the header
        body = message.get_payload(decode=True).decode()
        self.add((list(envelope.rcpt_tos), subject, body))
        return "250 OK"

    def start(self) -> "SmtpDouble":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


class WebhookDouble(_Inbox):
    """A Slack-compatible incoming webhook; ``items`` are (path, JSON body); answers
    ``status`` (200 unless set)."""

    def __init__(self) -> None:
        super().__init__()
        self.status = 200
        double = self

        class Handler(QuietHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                answer = double.status
                if answer == 200:
                    double.add((self.path, body))
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self._server = serve(Handler)
        self.port = self._server.server_address[1]

    def url(self, path: str = "/services/T000/B000/s3cr3t-hook-token") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
