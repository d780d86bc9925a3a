"""What the phones on the other end do after a message is sent, as WAHA reports it.

Each accepted send gets a delivery receipt (``message.ack``, ack 2 "DEVICE") a second or
two later, often a read receipt (ack 3 "READ"), and now and then a reply (``message``):
mostly a question, sometimes ``STOP``. Events go to the webhooks configured on the
session (``POST /api/sessions`` or ``PUT /api/sessions/{session}`` with
``config.webhooks: [{url, events, hmac: {key}}]``), signed like WAHA: ``X-Webhook-Hmac`` is
the HMAC-SHA512 of the body (hex) with the webhook's key. Only the events a webhook
subscribes to (or ``*``) are sent; a failed POST is dropped (logged in ``posted``).

``tick(now)`` posts what is due at ``now``; ``run(stop)`` ticks until ``stop`` is set.
"""

import hashlib
import heapq
import hmac
import json
import random
import threading
import time
import uuid
from collections.abc import Callable

import requests

REPLIES = ["What is the price?", "Can you call me tomorrow?", "Yes, interested", "Who is this?"]


def post_json(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST a webhook once; the HTTP status, or 0 when nothing answered."""
    try:
        return requests.post(url, data=body, headers=headers, timeout=5).status_code
    except requests.RequestException:
        return 0


def signed_headers(body: bytes, key: str) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Request-Id": uuid.uuid4().hex,
        "X-Webhook-Timestamp": str(int(time.time() * 1000)),
    }
    if key:
        headers["X-Webhook-Hmac"] = hmac.new(key.encode(), body, hashlib.sha512).hexdigest()
        headers["X-Webhook-Hmac-Algorithm"] = "sha512"
    return headers


class Phones:
    def __init__(
        self,
        sessions: dict[str, dict],
        *,
        post: Callable[[str, bytes, dict[str, str]], int] = post_json,
        seed: int | None = None,
        ack_delay: tuple[float, float] = (0.5, 2.0),
        read_share: float = 0.6,
        reply_share: float = 0.05,
        stop_share: float = 0.03,
    ) -> None:
        self.sessions = sessions  # the gateway's session configs, by name (shared)
        self.post = post
        self.rng = random.Random(seed)
        self.ack_delay, self.read_share = ack_delay, read_share
        self.reply_share, self.stop_share = reply_share, stop_share
        self.lock = threading.Lock()
        self._due: list[
            tuple[float, int, str, str, dict]
        ] = []  # (when, seq, session, event, payload)
        self._seq = 0
        self.posted: list[tuple[str, str, int]] = []  # (session, event, HTTP status)

    def on_sent(self, *, session: str, chat_id: str, message_id: str, now: float) -> None:
        """A message left the device: schedule what its recipient's phone does."""
        delivered = now + self.rng.uniform(*self.ack_delay)
        ack = {"id": message_id, "from": chat_id, "fromMe": True, "to": chat_id}
        with self.lock:
            self._at(delivered, session, "message.ack", {**ack, "ack": 2, "ackName": "DEVICE"})
            read = delivered + self.rng.uniform(*self.ack_delay)
            if self.rng.random() < self.read_share:
                self._at(read, session, "message.ack", {**ack, "ack": 3, "ackName": "READ"})
            chance = self.rng.random()
            if chance < self.stop_share + self.reply_share:
                body = "STOP" if chance < self.stop_share else self.rng.choice(REPLIES)
                short = uuid.uuid4().hex[:20].upper()
                reply = {
                    "id": f"false_{chat_id}_{short}",
                    "from": chat_id,
                    "fromMe": False,
                    "body": body,
                    "hasMedia": False,
                }
                self._at(read + self.rng.uniform(1.0, 5.0), session, "message", reply)

    def _at(self, when: float, session: str, event: str, payload: dict) -> None:
        self._seq += 1
        payload = {**payload, "timestamp": int(when)}
        heapq.heappush(self._due, (when, self._seq, session, event, payload))

    def tick(self, now: float | None = None) -> int:
        """Post the events due at ``now``; how many were due."""
        now = time.time() if now is None else now
        due = []
        with self.lock:
            while self._due and self._due[0][0] <= now:
                due.append(heapq.heappop(self._due))
        for _, seq, session, event, payload in due:
            for hook in self.sessions.get(session, {}).get("webhooks", []):
                events = hook.get("events") or ["*"]
                if "*" not in events and event not in events:
                    continue
                body = json.dumps(
                    {
                        "id": f"evt_{seq:08d}",
                        "timestamp": int(now * 1000),
                        "event": event,
                        "session": session,
                        "engine": "WEBJS",
                        "payload": payload,
                    }
                ).encode()
                key = (hook.get("hmac") or {}).get("key") or ""
                status = self.post(hook["url"], body, signed_headers(body, key))
                self.posted.append((session, event, status))
        return len(due)

    def run(self, stop: threading.Event, interval: float = 0.25) -> None:
        while not stop.wait(interval):
            self.tick()

    def trim(self, keep: int = 1000) -> None:
        with self.lock:
            del self.posted[:-keep]
