"""Gateway clients: send one message through a device's HTTP gateway.

``WahaClient`` speaks the WAHA (WhatsApp HTTP API) wire format: ``POST /api/sendText``
(``sendImage`` with a media URL) with ``session`` and ``chatId`` (``<digits>@c.us``), the
``X-Api-Key`` header, and a message id in the answer; ``GET /api/{session}/chats/{chatId}/
messages`` lists what the session sent to a chat, so a send whose outcome is unknown is
looked up before it is made again. Another gateway (Evolution API, an
SMS provider) is one more small class with the same ``send`` and ``parse_webhook``.
"""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import requests

from core import json_safe
from core.errors import ClientError
from core.http import HttpPolicy, build_session
from core.secrets import transport_error_text


class GatewayError(ClientError):
    """The gateway did not take the message. ``retryable``: try again later."""


class GatewayRejected(GatewayError):
    """This message can never be sent (bad number, not on WhatsApp): do not retry."""

    def __init__(self, message: str, *, raw: str = "") -> None:
        super().__init__(message, retryable=False, raw=raw)


class GatewaySessionDown(GatewayError):
    """The device's session cannot send (logged out, banned, bad token): pause the device."""

    def __init__(self, message: str, *, banned: bool = False, raw: str = "") -> None:
        super().__init__(message, retryable=True, raw=raw)
        self.banned = banned


@dataclass(frozen=True)
class SendResult:
    gateway_id: str


@dataclass(frozen=True)
class GatewayMessage:
    """A message a session sent, as the gateway lists it."""

    gateway_id: str
    body: str
    at: datetime | None = None
    has_media: bool = False


@dataclass
class GatewayEvent:
    """One webhook event, gateway-neutral."""

    kind: str  # "ack", "message", "session"
    gateway_id: str = ""
    ack: str = ""  # sent, delivered, read, failed
    sender: str = ""  # E.164 of an inbound message
    body: str = ""
    session_status: str = ""  # active, disconnected, banned
    at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)


WAHA_ACKS = {-1: "failed", 0: "sent", 1: "sent", 2: "delivered", 3: "read", 4: "read"}
WAHA_SESSION = {
    "WORKING": "active",
    "STARTING": "disconnected",
    "SCAN_QR_CODE": "disconnected",
    "STOPPED": "disconnected",
    "FAILED": "disconnected",
    "BANNED": "banned",
}


def chat_id(phone: str) -> str:
    return phone.lstrip("+") + "@c.us"


def phone_from_chat(chat: str) -> str:
    digits = chat.split("@", 1)[0]
    return "+" + digits if digits.isdigit() else ""


def _message_id(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    value = data.get("id")
    if isinstance(value, dict):
        value = value.get("_serialized") or value.get("id")
    if not value and isinstance(data.get("key"), dict):
        value = data["key"].get("id")
    return str(value or "")


LIST_PAGE, LIST_PAGES = 100, 10  # a chat listing: 100 messages a page, 10 pages at most


def _listed_message(row: object) -> GatewayMessage | None:
    """One row of a chat listing; None if it is not a message this session sent."""
    if not isinstance(row, dict) or row.get("fromMe") is False:
        return None
    gateway_id = _message_id(row)
    if not gateway_id:
        return None
    at = row.get("timestamp")
    return GatewayMessage(
        gateway_id=gateway_id,
        body=str(row.get("body") or ""),
        at=datetime.fromtimestamp(at, tz=UTC) if isinstance(at, int | float) else None,
        has_media=bool(row.get("hasMedia")),
    )


def _at_or_after(message: GatewayMessage, since: datetime) -> bool:
    """The gateway's filter, checked again (whole seconds): an engine may ignore it."""
    return message.at is None or message.at.timestamp() >= int(since.timestamp())


class GatewayClient:
    """What the dispatcher and the webhook need from a gateway. One subclass per wire format
    (WAHA below; an Evolution API or SMS adapter is another ~80 lines beside it)."""

    def __init__(
        self,
        *,
        base_url: str,
        session_name: str,
        token: str = "",
        timeout: float = 10.0,
        http: requests.Session | None = None,
    ) -> None:
        raise NotImplementedError

    def send(self, *, phone: str, text: str, media_url: str = "") -> SendResult:
        raise NotImplementedError

    def sent_since(self, *, phone: str, since: datetime) -> list[GatewayMessage]:
        """The messages this session sent to ``phone`` at or after ``since`` (the gateway's
        clock); GatewayError if the gateway cannot tell: never guess "not sent"."""
        raise NotImplementedError

    def session_status(self) -> str:
        """A cheap probe: the session's status ("active", "starting", "disconnected",
        "banned"); GatewayError if the gateway does not answer."""
        raise NotImplementedError

    @staticmethod
    def verify(body: bytes, headers: Mapping[str, str], secret: str) -> bool:
        raise NotImplementedError

    @staticmethod
    def parse_webhook(body: bytes) -> GatewayEvent | None:
        raise NotImplementedError


class WahaClient(GatewayClient):
    def __init__(
        self,
        *,
        base_url: str,
        session_name: str,
        token: str = "",
        timeout: float = 10.0,
        http: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session_name = session_name
        self.http = http or build_session(HttpPolicy(timeout=timeout, retries=1))
        self.headers = {"X-Api-Key": token} if token else {}

    def send(self, *, phone: str, text: str, media_url: str = "") -> SendResult:
        payload: dict[str, Any] = {"session": self.session_name, "chatId": chat_id(phone)}
        if media_url:
            path = "/api/sendImage"
            payload.update(file={"url": media_url}, caption=text)
        else:
            path = "/api/sendText"
            payload["text"] = text
        try:
            response = self.http.post(self.base_url + path, json=payload, headers=self.headers)
        except requests.Timeout as exc:  # the type and host only: never the URL
            where = transport_error_text(exc, self.base_url)
            raise GatewayError(f"gateway timed out: {where}", retryable=True) from exc
        except requests.RequestException as exc:
            where = transport_error_text(exc, self.base_url)
            raise GatewayError(f"gateway unreachable: {where}", retryable=True) from exc
        raw = response.text[:500]
        code = response.status_code
        if code in (200, 201):
            try:
                gateway_id = _message_id(response.json())
            except ValueError:
                gateway_id = ""
            if not gateway_id:
                raise GatewayError(
                    "gateway answered without a message id", retryable=False, raw=raw
                )
            return SendResult(gateway_id=gateway_id)
        if code in (401, 403):
            banned = "ban" in raw.lower()
            raise GatewaySessionDown(
                f"gateway refused the device (HTTP {code}): {raw}", banned=banned, raw=raw
            )
        if code == 422 and "session" in raw.lower():
            raise GatewaySessionDown(f"session is not working: {raw}", raw=raw)
        if code == 429 or code >= 500:
            raise GatewayError(f"gateway HTTP {code}: {raw}", retryable=True, raw=raw)
        raise GatewayRejected(f"gateway HTTP {code}: {raw}", raw=raw)

    def sent_since(self, *, phone: str, since: datetime) -> list[GatewayMessage]:
        """``GET /api/{session}/chats/{chatId}/messages`` with ``filter.fromMe`` and
        ``filter.timestamp.gte`` (whole seconds, rounded down), page by page. Any answer but a
        JSON list (a refusal, 404 from an engine without the listing, 5xx) is an error."""
        session, chat = quote(self.session_name, safe=""), quote(chat_id(phone), safe="")
        url = f"{self.base_url}/api/{session}/chats/{chat}/messages"
        params: dict[str, str | int] = {
            "limit": LIST_PAGE,
            "downloadMedia": "false",
            "filter.fromMe": "true",
            "filter.timestamp.gte": int(since.timestamp()),
        }
        found: list[GatewayMessage] = []
        for page in range(LIST_PAGES):
            rows = self._list_page(url, {**params, "offset": page * LIST_PAGE})
            found += [m for m in map(_listed_message, rows) if m and _at_or_after(m, since)]
            if len(rows) < LIST_PAGE:
                return found
        raise GatewayError(
            f"more than {LIST_PAGE * LIST_PAGES} messages to check in one chat", retryable=False
        )

    def _list_page(self, url: str, params: dict[str, str | int]) -> list[object]:
        try:
            response = self.http.get(url, params=params, headers=self.headers)
        except requests.RequestException as exc:
            where = transport_error_text(exc, self.base_url)
            raise GatewayError(f"gateway unreachable: {where}", retryable=True) from exc
        raw, code = response.text[:500], response.status_code
        if code in (401, 403) or (code == 422 and "session" in raw.lower()):
            raise GatewaySessionDown(
                f"gateway refused the session (HTTP {code}): {raw}", banned="ban" in raw.lower()
            )
        if code != 200:
            raise GatewayError(f"cannot list the chat (HTTP {code}): {raw}", retryable=True)
        try:
            rows = response.json()
        except ValueError:
            rows = None
        if not isinstance(rows, list):
            raise GatewayError(f"the chat listing is not a list: {raw}", retryable=True)
        return rows

    def session_status(self) -> str:
        """``GET /api/sessions/{session}``: WORKING is "active"; STARTING is "starting" (the
        gateway is coming back: ask again later); a refusal (401/403) or an unknown session
        (404) raises ``GatewaySessionDown``; no answer, 429 or 5xx a retryable error."""
        url = f"{self.base_url}/api/sessions/{quote(self.session_name, safe='')}"
        try:
            response = self.http.get(url, headers=self.headers)
        except requests.RequestException as exc:
            where = transport_error_text(exc, self.base_url)
            raise GatewayError(f"gateway unreachable: {where}", retryable=True) from exc
        raw, code = response.text[:500], response.status_code
        if code in (401, 403, 404):
            raise GatewaySessionDown(
                f"gateway refused the session (HTTP {code}): {raw}", banned="ban" in raw.lower()
            )
        if code != 200:
            raise GatewayError(f"gateway HTTP {code}: {raw}", retryable=True, raw=raw)
        try:
            status = str(response.json().get("status", "")).upper()
        except (ValueError, AttributeError):
            status = ""
        if status == "STARTING":
            return "starting"
        if status not in WAHA_SESSION:
            raise GatewayError(f"unknown session status in: {raw}", retryable=True, raw=raw)
        return WAHA_SESSION[status]

    @staticmethod
    def verify(body: bytes, headers: Mapping[str, str], secret: str) -> bool:
        """WAHA signs webhooks with ``X-Webhook-Hmac`` (HMAC-SHA512 of the body, hex)."""
        given = headers.get("X-Webhook-Hmac", "")
        expected = hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()
        # Bytes: compare_digest refuses non-ASCII str, and a header is the sender's choice.
        return bool(given) and hmac.compare_digest(given.encode(), expected.encode())

    @staticmethod
    def sign(body: bytes, secret: str) -> str:
        return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()

    @staticmethod
    def parse_webhook(body: bytes) -> GatewayEvent | None:
        """A WAHA webhook body -> event; None for events we do not use; ValueError if bad."""
        try:
            data = json_safe.loads(body or b"null")
        except (json_safe.JsonTooDeep, json_safe.JsonHasNul) as exc:
            raise ValueError(str(exc)) from exc
        except ValueError as exc:
            raise ValueError("The body is not JSON.") from exc
        if not isinstance(data, dict) or not isinstance(data.get("event"), str):
            raise ValueError('Expected an object with "event" and "payload".')
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise ValueError('"payload" must be an object.')
        event = data["event"]
        at = None
        if isinstance(payload.get("timestamp"), int | float):
            at = datetime.fromtimestamp(payload["timestamp"], tz=UTC)
        if event == "message.ack":
            ack = payload.get("ack")
            if ack not in WAHA_ACKS:
                raise ValueError(f"Unknown ack {ack!r}.")
            gateway_id = _message_id(payload)
            if not gateway_id:
                raise ValueError('"payload.id" is required.')
            return GatewayEvent(
                kind="ack", gateway_id=gateway_id, ack=WAHA_ACKS[ack], at=at, raw=data
            )
        if event in ("message", "message.any"):
            if payload.get("fromMe"):
                return None
            sender = phone_from_chat(str(payload.get("from", "")))
            if not sender:
                raise ValueError('"payload.from" must be a chat id like 15551234567@c.us.')
            return GatewayEvent(
                kind="message",
                gateway_id=_message_id(payload),
                sender=sender,
                body=str(payload.get("body") or ""),
                at=at,
                raw=data,
            )
        if event == "session.status":
            status = WAHA_SESSION.get(str(payload.get("status", "")).upper())
            if status is None:
                raise ValueError(f"Unknown session status {payload.get('status')!r}.")
            return GatewayEvent(kind="session", session_status=status, at=at, raw=data)
        return None


GATEWAYS: dict[str, type[GatewayClient]] = {"waha": WahaClient}


def gateway_class(kind: str) -> type[GatewayClient]:
    return GATEWAYS.get(kind, WahaClient)


class GatewayDevice(Protocol):
    """What a client is built from: a Device, or the dispatcher's view of its row."""

    @property
    def gateway_kind(self) -> str: ...
    @property
    def gateway_url(self) -> str: ...
    @property
    def gateway_session(self) -> str: ...
    @property
    def gateway_token(self) -> str: ...


def client_for(device: GatewayDevice, *, http: requests.Session | None = None) -> GatewayClient:
    return gateway_class(device.gateway_kind)(
        base_url=device.gateway_url,
        session_name=device.gateway_session,
        token=device.gateway_token,
        http=http,
    )
