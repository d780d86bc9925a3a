"""A small real WAHA-style WhatsApp gateway for tests, benchmarks and ``make run``.

``POST /api/sendText`` and ``/api/sendImage`` with ``session``, ``chatId`` and the
``X-Api-Key`` header answer 201 with a WEBJS message object (``id._serialized``). Every
accepted send is kept with the time it arrived, so tests check pacing from the gateway's
side. Knobs: ``latency`` (seconds, or a (min, max) range, before a send is taken),
``answer_delay`` (seconds between taking a send and answering: the send happened, its
answer is late or lost), ``hold()`` / ``release()`` (sends are taken and their answers
held until released: ``wait_for_held(n)`` is the barrier for "a send happened and its
sender does not know yet"), ``fail_next(n, status)``,
``ban(session)`` (403), ``disconnect(session)`` (422 session not working), ``invalid``
(chat ids answered 400), ``down()`` / ``up()`` (connection refused).
``GET /api/sessions/{session}`` answers the session's status (WORKING, STOPPED when
disconnected, 403 when banned). ``GET /api/{session}/chats/{chatId}/messages`` lists what
the session sent to the chat, as WAHA does: newest first, ``limit`` (default 100),
``offset``, ``filter.fromMe``, ``filter.timestamp.gte`` / ``.lte`` (whole seconds). A send
is kept (and listed) as soon as the double accepts it, before it answers, so a client that
never got the answer (killed, timed out) still finds it. ``received`` keeps every request
that reached the double, answered or not (method, path, session, chat id, answer), for
contact-safety checks (``chats_reached`` counts sends only, not listings).
``POST /api/sessions`` and ``PUT /api/sessions/{session}`` keep a session's ``config``
(its webhooks); ``start_phones()`` then sends receipts and replies to them (events.py).
"""

import json
import random
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from simulators.gateway.events import Phones
from simulators.http import Lifecycle, QuietHandler, serve


@dataclass
class Received:
    method: str
    path: str
    session: str
    chat_id: str
    status: int
    at: float


@dataclass
class Sent:
    session: str
    chat_id: str
    text: str
    media_url: str
    at: float
    message_id: str


class GatewaySimulator(Lifecycle):
    def __init__(self, *, token: str = "", latency: float | tuple[float, float] = 0.0) -> None:
        self.token = token
        self.latency = latency
        self.answer_delay = 0.0
        self.held = 0  # sends taken while answers were held
        self._answers = threading.Event()  # set: answer at once; clear: hold the answers
        self._answers.set()
        self.sent: list[Sent] = []
        self.received: list[Received] = []
        self.banned: set[str] = set()
        self.disconnected: set[str] = set()
        self.invalid: set[str] = set()
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)  # notified on every accepted send
        self.requests = 0
        self._fail: list[int] = []
        self._server = None
        self.port = 0
        self.sessions: dict[str, dict] = {}  # name -> WAHA session config (webhooks)
        self.phones: Phones | None = None
        self._phones_stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "GatewaySimulator":
        double = self

        class Handler(QuietHandler):
            def do_POST(self):
                arrived = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, body = double.handle(self.path, self.headers, raw, arrived)
                self.answer(status, body)

            def do_GET(self):
                self.answer(*double.handle_get(self.path, self.headers, time.time()))

            def do_PUT(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                self.answer(*double.handle_put(self.path, self.headers, raw))

            def answer(self, status: int, body: dict | list) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (timed out) first

        self._server = serve(Handler, self.port)
        self.port = self._server.server_address[1]
        return self

    def start_phones(self, **options) -> Phones:
        """Receipts and replies for the sends from now on (options: see ``Phones``)."""
        self.phones = Phones(self.sessions, **options)
        self._phones_stop.clear()
        threading.Thread(target=self.phones.run, args=(self._phones_stop,), daemon=True).start()
        return self.phones

    def stop(self) -> None:
        self._phones_stop.set()
        super().stop()

    def down(self) -> None:
        """Refuse connections for a while (an outage); the calls and receipts go on."""
        Lifecycle.stop(self)

    def trim(self, keep: int = 1000) -> None:
        """Forget old requests (a long run keeps its memory flat)."""
        with self.lock:
            del self.sent[:-keep], self.received[:-keep]
        if self.phones is not None:
            self.phones.trim(keep)

    def configure_session(self, name: object, payload: dict, headers) -> tuple[int, dict]:
        """WAHA's session create/update: keeps ``config`` (its ``webhooks``)."""
        if self.token and headers.get("X-Api-Key") != self.token:
            return 401, {"statusCode": 401, "message": "Unauthorized"}
        config = payload.get("config") or {}
        hooks = config.get("webhooks") if isinstance(config, dict) else None
        if not isinstance(name, str) or not name or not isinstance(hooks, list | type(None)):
            return 400, {"statusCode": 400, "message": "name and config.webhooks[] expected"}
        if any(
            not isinstance(h, dict) or not str(h.get("url", "")).startswith("http")
            for h in hooks or []
        ):
            return 400, {"statusCode": 400, "message": "every webhook needs an http(s) url"}
        with self.lock:
            self.sessions[name] = {"webhooks": hooks or []}
        return 201, {"name": name, "status": "WORKING", "config": config}

    def handle_put(self, path: str, headers, raw: bytes) -> tuple[int, dict]:
        if not path.startswith("/api/sessions/"):
            return 404, {"statusCode": 404, "message": f"Cannot PUT {path}"}
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        payload = payload if isinstance(payload, dict) else {}
        status, body = self.configure_session(path.rsplit("/", 1)[-1], payload, headers)
        return (200 if status == 201 else status), body

    def fail_next(self, n: int, status: int = 500) -> None:
        with self.lock:
            self._fail += [status] * n

    def hold(self) -> None:
        self._answers.clear()

    def release(self) -> None:
        self._answers.set()

    def wait_for_held(self, n: int, *, timeout: float) -> bool:
        """Block until ``n`` sends were taken with their answers held (True), or timeout."""
        with self.arrived:
            return self.arrived.wait_for(lambda: self.held >= n, timeout=timeout)

    def ban(self, session: str) -> None:
        self.banned.add(session)

    def disconnect(self, session: str) -> None:
        self.disconnected.add(session)

    def sends_by_session(self) -> dict[str, list[Sent]]:
        with self.lock:
            result: dict[str, list[Sent]] = {}
            for s in self.sent:
                result.setdefault(s.session, []).append(s)
        return result

    def wait_for_sends(self, n: int, *, timeout: float) -> bool:
        """Block until ``n`` sends were accepted (True) or ``timeout`` seconds pass (False)."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.sent) >= n, timeout=timeout)

    def chats_reached(self) -> set[str]:
        """Every chat id a send was requested for, whatever the answer."""
        with self.lock:
            return {r.chat_id for r in self.received if r.chat_id and r.method == "POST"}

    def listings(self) -> list[Received]:
        """The chat listings asked for (a dispatcher checking a send of unknown outcome)."""
        with self.lock:
            return [r for r in self.received if r.method == "GET" and r.chat_id]

    def handle(self, path: str, headers, raw: bytes, arrived: float) -> tuple[int, dict]:
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        payload = payload if isinstance(payload, dict) else {}
        status, body = self._handle_post(path, headers, payload, arrived)
        with self.lock:
            self.received.append(
                Received(
                    "POST",
                    path,
                    str(payload.get("session", "")),
                    str(payload.get("chatId", "")),
                    status,
                    arrived,
                )
            )
        return status, body

    def handle_get(self, path: str, headers, arrived: float) -> tuple[int, dict | list]:
        url = urlsplit(path)
        parts = [unquote(p) for p in url.path.split("/")]
        session = chat = ""
        if url.path.startswith("/api/sessions/"):
            session = parts[-1]
        elif len(parts) == 6 and parts[1] == "api" and parts[3:6:2] == ["chats", "messages"]:
            session, chat = parts[2], parts[4]
        status, body = self._handle_get(url.path, headers, session, chat, parse_qs(url.query))
        with self.lock:
            self.received.append(Received("GET", url.path, session, chat, status, arrived))
        return status, body

    def _handle_get(
        self, path: str, headers, session: str, chat: str, query: dict
    ) -> tuple[int, dict | list]:
        with self.lock:
            self.requests += 1
            if self._fail:
                return self._fail.pop(0), {"statusCode": 500, "message": "Internal error"}
        if not session:
            return 404, {"statusCode": 404, "message": f"Cannot GET {path}"}
        if self.token and headers.get("X-Api-Key") != self.token:
            return 401, {"statusCode": 401, "message": "Unauthorized"}
        if chat:
            return self._list_chat(session, chat, query)
        if session in self.banned:
            return 403, {"statusCode": 403, "message": "Account banned by WhatsApp"}
        status = "STOPPED" if session in self.disconnected else "WORKING"
        return 200, {"name": session, "status": status}

    def _list_chat(self, session: str, chat: str, query: dict) -> tuple[int, dict | list]:
        """What ``session`` sent to ``chat``, newest first, as WAHA's WEBJS engine lists it."""
        if session in self.banned:
            return 403, {"statusCode": 403, "message": "Account banned by WhatsApp"}
        if session in self.disconnected:
            return 422, {"statusCode": 422, "message": f'Session "{session}" is not working'}
        one = {key: values[-1] for key, values in query.items()}
        try:
            limit, offset = int(one.get("limit", 100)), int(one.get("offset", 0))
            gte = int(one.get("filter.timestamp.gte", 0))
            lte = int(one.get("filter.timestamp.lte", 2**62))
        except ValueError:
            return 400, {"statusCode": 400, "message": "limit, offset and filters are numbers"}
        if one.get("filter.fromMe") == "false":  # the double keeps sends only
            return 200, []
        with self.lock:
            rows = [
                s
                for s in self.sent
                if (s.session, s.chat_id) == (session, chat) and gte <= int(s.at) <= lte
            ]
        rows.sort(key=lambda s: s.at, reverse=True)
        return 200, [
            {
                "id": s.message_id,
                "timestamp": int(s.at),
                "from": f"{session}@c.us",
                "fromMe": True,
                "to": chat,
                "body": s.text,
                "hasMedia": bool(s.media_url),
                "ack": 1,
            }
            for s in rows[offset : offset + limit]
        ]

    def _handle_post(self, path: str, headers, payload: dict, arrived: float) -> tuple[int, dict]:
        if self.latency:
            low, high = self.latency if isinstance(self.latency, tuple) else (self.latency,) * 2
            time.sleep(random.uniform(low, high))
        with self.lock:
            self.requests += 1
            if self._fail:
                return self._fail.pop(0), {"statusCode": 500, "message": "Internal error"}
        if path == "/api/sessions":
            return self.configure_session(payload.get("name"), payload, headers)
        if path not in ("/api/sendText", "/api/sendImage"):
            return 404, {"statusCode": 404, "message": f"Cannot POST {path}"}
        if self.token and headers.get("X-Api-Key") != self.token:
            return 401, {"statusCode": 401, "message": "Unauthorized"}
        session, chat = payload.get("session"), payload.get("chatId")
        if not isinstance(session, str) or not isinstance(chat, str):
            return 400, {"statusCode": 400, "message": "session and chatId are required"}
        if session in self.banned:
            return 403, {"statusCode": 403, "message": "Account banned by WhatsApp"}
        if session in self.disconnected:
            return 422, {
                "statusCode": 422,
                "status": "STOPPED",
                "message": f'Session "{session}" status is not as expected. '
                "Try again later or restart the session",
            }
        if chat in self.invalid or not chat.endswith("@c.us"):
            return 400, {"statusCode": 400, "message": f"{chat} is not a WhatsApp user"}
        text = payload.get("text") if path == "/api/sendText" else payload.get("caption", "")
        media = (payload.get("file") or {}).get("url", "") if path == "/api/sendImage" else ""
        short = uuid.uuid4().hex[:20].upper()
        serialized = f"true_{chat}_{short}"
        with self.lock:
            self.sent.append(Sent(session, chat, text or "", media, arrived, serialized))
            holding = not self._answers.is_set()
            self.held += holding
            self.arrived.notify_all()
        if self.phones is not None:
            self.phones.on_sent(session=session, chat_id=chat, message_id=serialized, now=arrived)
        if holding:
            self._answers.wait(timeout=120)
        if self.answer_delay:
            time.sleep(self.answer_delay)
        return 201, {
            "id": {"fromMe": True, "remote": chat, "id": short, "_serialized": serialized},
            "body": text,
            "timestamp": int(arrived),
            "ack": 1,
        }
