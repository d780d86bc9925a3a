import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django_redis import get_redis_connection

from core.errors import NUL_BYTE, PAYLOAD_TOO_LARGE

logger = logging.getLogger("leadbrain.request")
slow_logger = logging.getLogger("leadbrain.slow")

GetResponse = Callable[[HttpRequest], HttpResponse]

LATENCY_KEY = "api:latency_ms"
LATENCY_SAMPLES = 1000
LATENCY_FLUSH_SECONDS = 1.0
# An admin body may carry a CSV upload of up to CSV_IMPORT_MAX_BYTES plus the form around it.
ADMIN_FORM_OVERHEAD = 1024 * 1024


class _QueryCounter:
    """A database execute wrapper that counts the statements of one request."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


class RequestIdMiddleware:
    """Tags each request with an id (X-Request-ID), answers how long it took
    (X-Response-Time, milliseconds), samples API latency for /health, and logs requests
    slower than SLOW_REQUEST_MS (``leadbrain.slow``: route, workspace, SQL count)."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> HttpResponse:
        request.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        counter = _QueryCounter()
        started = time.perf_counter()
        with ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(counter))
            response = self.get_response(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        response["X-Request-ID"] = request.request_id
        response["X-Response-Time"] = f"{elapsed_ms:.1f}ms"
        if request.path.startswith("/api/v1/"):
            _record_latency(elapsed_ms)
        if elapsed_ms >= settings.SLOW_REQUEST_MS:
            _log_slow(request, response, elapsed_ms, counter.count)
        return response


def _log_slow(request: Any, response: Any, elapsed_ms: float, queries: int) -> None:
    match = getattr(request, "resolver_match", None)
    route = f"/{match.route}" if match and match.route else request.path[:200]
    workspace = getattr(getattr(request, "auth", None), "workspace_id", None)
    slow_logger.warning(
        "slow request %s %s %.0f ms status=%s workspace=%s sql=%d request_id=%s",
        request.method,
        route,
        elapsed_ms,
        response.status_code,
        workspace if workspace is not None else "-",
        queries,
        request.request_id,
        extra={
            "route": route,
            "workspace_id": workspace,
            "sql_count": queries,
            "elapsed_ms": round(elapsed_ms, 1),
        },
    )


class _LatencySamples:
    """API latency samples for /health's p95, sent to Redis at most once per
    ``LATENCY_FLUSH_SECONDS`` by each process (one pipeline for all the samples since the
    last send), not once per request: a busy process would spend a Redis round trip on
    every request for a figure read every few seconds."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: list[float] = []
        self.sent_at = -LATENCY_FLUSH_SECONDS

    def add(self, elapsed_ms: float) -> None:
        now = time.monotonic()
        with self.lock:
            self.pending.append(round(elapsed_ms, 2))
            if now - self.sent_at < LATENCY_FLUSH_SECONDS:
                return
            values, self.pending, self.sent_at = self.pending[-LATENCY_SAMPLES:], [], now
        try:
            client = get_redis_connection("default")
            key = cache.make_key(LATENCY_KEY)
            pipe = client.pipeline(transaction=False)
            pipe.lpush(key, *values)
            pipe.ltrim(key, 0, LATENCY_SAMPLES - 1)
            pipe.execute()
        except Exception:  # noqa: BLE001 - metrics must never break a request
            logger.debug("latency samples dropped", exc_info=True)


_latency_samples = _LatencySamples()


def _record_latency(elapsed_ms: float) -> None:
    _latency_samples.add(elapsed_ms)


def body_limit(path: str) -> int:
    """The largest body accepted on ``path`` (0: no limit)."""
    from django.conf import settings

    if path.startswith("/admin/"):  # uploads (the CSV import) and the form around them
        return int(settings.CSV_IMPORT_MAX_BYTES) + ADMIN_FORM_OVERHEAD
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)


def body_too_large(path: str, content_length: str | None) -> bool:
    """Whether a request declaring ``content_length`` gets a 413 on ``path``.

    Also read by gunicorn's ``pre_request`` hook (gunicorn.conf.py), which closes the
    connection with the 413: the body is never read, so the connection cannot carry
    another request (gunicorn would drain at most 64 KB of it, then drop a connection it
    had just announced as keep-alive, and the client's next request on it would fail).
    """
    try:
        length = int(content_length or 0)
    except ValueError:
        return False
    limit = body_limit(path)
    return bool(limit) and length > limit


class BodySizeLimitMiddleware:
    """Answer 413 with the API's error shape when a body is over the configured limit.

    Django only enforces DATA_UPLOAD_MAX_MEMORY_SIZE when ``request.body`` is read; DRF's
    parsers stream the body, so the limit is checked here from Content-Length.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.http import JsonResponse

        from core.errors import error_body

        if body_too_large(request.path, request.META.get("CONTENT_LENGTH")):
            limit = body_limit(request.path)
            return JsonResponse(
                error_body(PAYLOAD_TOO_LARGE, f"Request body is over the limit of {limit} bytes."),
                status=413,
            )
        return self.get_response(request)


_ENCODED_NUL = re.compile(rb"%00|\x00")


class RejectNulMiddleware:
    """Answer 400 when a NUL byte is in the path, the query string or a form body.

    PostgreSQL refuses NUL in text and JSON, so one that reached a query or an INSERT
    would be a 500. JSON bodies are checked by the parser (``core.json_safe``, a decoded
    ``\\u0000``), uploaded files by the code that reads them (the CSV import, per row).
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.http import JsonResponse

        from core.errors import error_body

        where = _nul_in(request)
        if where:
            return JsonResponse(
                error_body(NUL_BYTE, f"The {where} contains a NUL byte.", {where: ["NUL"]}),
                status=400,
            )
        return self.get_response(request)


def _nul_in(request: HttpRequest) -> str | None:
    if "\x00" in request.path:
        return "path"
    if _ENCODED_NUL.search(request.META.get("QUERY_STRING", "").encode("latin-1", "replace")):
        return "query string"
    if request.method in ("GET", "HEAD", "OPTIONS") or request.path.startswith("/webhooks/"):
        return None  # webhooks read (and sign) their raw body and check it themselves
    content_type = request.content_type or ""
    if content_type == "application/x-www-form-urlencoded":
        if _ENCODED_NUL.search(request.body):
            return "form body"
    elif content_type == "multipart/form-data":
        for values in request.POST.lists():
            if any("\x00" in value for value in values[1]) or "\x00" in values[0]:
                return "form body"
    return None
