"""A small real VICIdial Non-Agent API server for tests, benchmarks and ``make run``.

``ViciApi`` (api.py) answers exactly like ``non_agent_api.php`` (HTTP 200 always,
plain text, GET or form-encoded POST); this serves it over HTTP with knobs: ``latency``
(seconds per request), ``fail_next(n)`` (HTTP 500), ``drop_after_apply(n)`` (apply the
change, then close the connection without answering), ``down()`` / ``up()`` (connection
refused), ``on_request`` (a callback run as each request arrives).

``start_dialer()`` adds VICIdial's dialer and agents (dialer.py): the leads added get
called and their calls reported through the campaigns' call URLs. ``POST
/simulator/campaign`` (JSON: ``campaign_id``, ``lists``, ``active``, ``start_call_url``,
``dispo_call_url``, ``na_call_url``) stands in for admin.php's campaign and list screens.
"""

import json
import socket
import threading
import time
from urllib.parse import parse_qs, urlsplit

from simulators.http import Lifecycle, QuietHandler, serve
from simulators.vicidial.api import ApiUser, ViciApi, ViciState
from simulators.vicidial.dialer import Dialer

CONTROL_PATH = "/simulator/campaign"

__all__ = ["ApiUser", "ViciSimulator", "ViciState"]


class ViciSimulator(ViciApi, Lifecycle):
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
        self._server = None
        self.port = 0
        self.dialer: Dialer | None = None
        self._dialer_stop = threading.Event()

    # --- lifecycle and knobs -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/vicidial/non_agent_api.php"

    def start(self) -> "ViciSimulator":
        double = self

        class Handler(QuietHandler):
            def do_GET(self):
                self._answer(urlsplit(self.path).query)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                if urlsplit(self.path).path == CONTROL_PATH:
                    return self._control(body)
                query = urlsplit(self.path).query
                self._answer(query + ("&" if query and body else "") + body)

            def _control(self, body: str) -> None:
                try:
                    status, answer = 200, double.configure_campaign(json.loads(body or "{}"))
                except (ValueError, TypeError, AttributeError) as exc:
                    status, answer = 400, {"error": str(exc)}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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

    def configure_campaign(self, payload: dict) -> dict:
        """A campaign's settings and the lists in it (admin.php's screens, in one call)."""
        campaign_id = str(payload["campaign_id"])
        if not campaign_id or len(campaign_id) > 8:
            raise ValueError("campaign_id: 1-8 characters")
        settings = {k: payload[k] for k in payload if k not in ("campaign_id", "lists")}
        with self.lock:
            campaign = self.set_campaign(campaign_id, **settings)
            for list_id in payload.get("lists", []):
                self.add_list(int(list_id), campaign_id)
        return {"campaign_id": campaign.campaign_id, "lists": payload.get("lists", [])}

    def start_dialer(self, **options) -> Dialer:
        """Call the leads added from now on (options: see ``Dialer``)."""
        self.dialer = Dialer(self, lock=self.lock, **options)
        self._dialer_stop.clear()
        threading.Thread(target=self.dialer.run, args=(self._dialer_stop,), daemon=True).start()
        return self.dialer

    def stop(self) -> None:
        self._dialer_stop.set()
        super().stop()

    def down(self) -> None:
        """Refuse connections for a while (an outage); the calls and receipts go on."""
        Lifecycle.stop(self)

    def trim(self, keep: int = 1000) -> None:
        """Forget old requests (a long run keeps its memory flat; the leads stay)."""
        with self.lock:
            del self.state.requests[:-keep], self.timeline[:-keep], self.state.calls[: -keep * 20]
        if self.dialer is not None:
            self.dialer.trim(keep)

    def fail_next(self, n: int) -> None:
        self._fail = n

    def drop_after_apply(self, n: int) -> None:
        self._drop = n
