"""Auto-resume: devices paused for transient gateway failures (5xx, timeouts) are probed
with a cheap call (the session status) and resume when the gateway answers. A failed probe
backs off exponentially with jitter (``core.backoff``); a ban or a logged-out session found
by a probe marks the device and waits for a person, as a pause by a person does.

Set-based: one query claims the due devices (``FOR UPDATE SKIP LOCKED``, pushing their
``probe_at`` out so a second prober skips them), the probes run on a thread pool (HTTP only,
one keep-alive session per gateway), and one statement per outcome writes the results.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from broadcast.client import GatewayError, GatewaySessionDown, client_for
from broadcast.models import Device
from broadcast.services.devices import device_alert, device_recovered
from broadcast.services.requests import enrollment_requests_wake_for
from core.backoff import jittered_backoff
from core.db import unnest_columns
from core.http import HttpPolicy, build_session
from core.secrets import scrub

logger = logging.getLogger(__name__)

PROBE_LEASE = timedelta(minutes=2)  # a prober that dies frees its devices after this


@dataclass
class ProbeRun:
    probed: int = 0
    resumed: list[int] = field(default_factory=list)
    down: list[tuple[int, str, str]] = field(default_factory=list)  # id, status, reason
    later: list[tuple[int, datetime, int, str]] = field(default_factory=list)  # id, at, n, why

    def as_dict(self) -> dict[str, int]:
        return {
            "probed": self.probed,
            "resumed": len(self.resumed),
            "down": len(self.down),
            "later": len(self.later),
        }


def devices_probe(*, limit: int = 500, now: datetime | None = None) -> ProbeRun:
    """Probe the paused devices whose ``probe_at`` has come; resume those whose gateway
    answers, mark banned or logged-out sessions, and back off the others."""
    now = now or timezone.now()
    devices = _claim(limit, now)
    run = ProbeRun(probed=len(devices))
    if not devices:
        return run
    with ThreadPoolExecutor(max_workers=min(32, len(devices))) as pool:
        sessions: dict[str, requests.Session] = {}
        for device in devices:  # one keep-alive session per gateway, built on this thread
            if device.gateway_url not in sessions:
                sessions[device.gateway_url] = build_session(
                    HttpPolicy(timeout=settings.BROADCAST_GATEWAY_TIMEOUT, retries=0, pool_size=32)
                )
        answers = list(pool.map(lambda d: _probe(d, sessions[d.gateway_url]), devices))
    for http in sessions.values():
        http.close()
    for device, answer in zip(devices, answers, strict=True):
        _sort(run, device, answer, timezone.now())
    _write(run)
    return run


def _claim(limit: int, now: datetime) -> list[Device]:
    with transaction.atomic():
        devices = list(
            Device.objects.select_for_update(skip_locked=True)
            .filter(status=Device.Status.PAUSED, probe_at__lte=now)
            .order_by("probe_at")[:limit]
        )
        if devices:
            Device.objects.filter(pk__in=[d.pk for d in devices]).update(probe_at=now + PROBE_LEASE)
    return devices


def _probe(device: Device, http: requests.Session) -> str | GatewayError:
    """On a pool thread: HTTP only. The session's status, or the error it raised."""
    try:
        return client_for(device, http=http).session_status()
    except GatewayError as exc:
        return exc


def _sort(run: ProbeRun, device: Device, answer: str | GatewayError, now: datetime) -> None:
    if answer == Device.Status.ACTIVE:
        run.resumed.append(device.pk)
    elif isinstance(answer, GatewaySessionDown):
        status = Device.Status.BANNED if answer.banned else Device.Status.DISCONNECTED
        run.down.append((device.pk, status, _text(device, answer.message)))
    elif answer in (Device.Status.DISCONNECTED, Device.Status.BANNED):
        run.down.append(
            (device.pk, str(answer), f"probe: the gateway says the session is {answer}")
        )
    else:  # no answer, an error, or a session still starting: ask again later
        attempts = device.probe_attempts + 1
        backoff = jittered_backoff(
            attempts + 1,
            base=settings.BROADCAST_PROBE_BASE_SECONDS,
            cap=settings.BROADCAST_PROBE_MAX_SECONDS,
        )
        why = answer.message if isinstance(answer, GatewayError) else f"session is {answer}"
        run.later.append((device.pk, now + backoff, attempts, _text(device, why)))


def _text(device: Device, text: str) -> str:
    return scrub(text, device.gateway_token, device.webhook_secret)[:500]


def _write(run: ProbeRun) -> None:
    """One statement per kind of outcome; each touches only devices still paused and probed
    (a person who paused or resumed a device meanwhile wins). Alerts after the commit."""
    now = timezone.now()
    probing = "d.status = %s AND d.probe_at IS NOT NULL"  # its parameter: PAUSED, last
    with transaction.atomic(), connection.cursor() as cursor:
        resumed, down = [], []
        if run.resumed:
            cursor.execute(
                "UPDATE broadcast_device d SET status = %s, status_reason = %s, "
                "consecutive_failures = 0, lease_until = NULL, probe_at = NULL, "
                f"probe_attempts = 0, updated_at = %s WHERE d.id = ANY(%s) AND {probing} "
                "RETURNING d.id, d.workspace_id",
                [
                    Device.Status.ACTIVE,
                    "resumed automatically: the gateway answers again",
                    now,
                    run.resumed,
                    Device.Status.PAUSED,
                ],
            )
            resumed = cursor.fetchall()
        if run.down:
            cursor.execute(
                "UPDATE broadcast_device d SET status = k.status, status_reason = k.reason, "
                "probe_at = NULL, updated_at = %s FROM unnest(%s::bigint[], %s::varchar[], "
                f"%s::varchar[]) k(id, status, reason) WHERE d.id = k.id AND {probing} "
                "RETURNING d.id, k.status, k.reason",
                [now, *unnest_columns(run.down), Device.Status.PAUSED],
            )
            down = cursor.fetchall()
        if run.later:
            cursor.execute(
                "UPDATE broadcast_device d SET probe_at = k.at, probe_attempts = k.n, "
                "last_error = k.why, last_error_at = %s FROM unnest(%s::bigint[], "
                "%s::timestamptz[], %s::int[], %s::text[]) k(id, at, n, why) "
                f"WHERE d.id = k.id AND {probing}",
                [now, *unnest_columns(run.later), Device.Status.PAUSED],
            )
        if resumed:
            enrollment_requests_wake_for(workspace_ids=[w for _, w in resumed])
    for device_id, _workspace in resumed:
        device_recovered(device_id, "resumed automatically: the gateway answers again")
    for device_id, status, reason in down:
        device_alert(device_id, f"{status}: {reason}")
    if resumed or down:
        logger.info("probed devices: %d resumed, %d down", len(resumed), len(down))
