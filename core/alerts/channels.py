"""Sending queued alert messages: e-mail through Django's mail backend, Slack-compatible
incoming webhooks (``{"text": ...}``) through ``core.http``.

Each channel sends at most ``max_per_hour`` messages in any hour; more are recorded as
suppressed (visible in admin), so a flapping condition never floods anyone. A failed send is
tried again at the next evaluations, ``MAX_ATTEMPTS`` times in all. Errors are kept as the
exception's type and a short text with the webhook URL masked (the URL is the secret).
"""

import logging
from datetime import datetime, timedelta
from smtplib import SMTPException
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from core.alerts.models import Alert, AlertAttempt, AlertChannel, AlertDelivery
from core.crypto import DecryptError, decrypt, encrypt
from core.http import HttpPolicy, build_session
from core.safe_url import is_http_url
from core.secrets import scrub

logger = logging.getLogger("leadbrain.alerts")
MAX_ATTEMPTS = 3
BATCH = 200


class SendError(Exception):
    """A message did not go out; the text is safe to store (no secret)."""


def channel_set_webhook_url(*, channel: AlertChannel, url: str) -> None:
    """Store a channel's webhook URL encrypted (the caller checked it is http(s))."""
    if not is_http_url(url):
        raise ValueError("not an http(s) URL")
    channel.webhook_url_encrypted = encrypt(url)
    AlertChannel.objects.filter(pk=channel.pk).update(
        webhook_url_encrypted=channel.webhook_url_encrypted
    )


def message_text(alert: Alert, event: str) -> tuple[str, str]:
    """(subject, body) of the message about ``alert`` for ``event``."""
    if event == AlertDelivery.Event.RESOLVED:
        subject = f"[Leadbrain RESOLVED] {alert.summary}"
        lasted = (alert.resolved_at or timezone.now()) - alert.fired_at
        when = f"Fired {alert.fired_at:%Y-%m-%d %H:%M:%S} UTC, resolved after {lasted}."
    else:
        subject = f"[Leadbrain {alert.severity.upper()}] {alert.summary}"
        when = f"Fired {alert.fired_at:%Y-%m-%d %H:%M:%S} UTC."
    body = "\n".join(p for p in [subject, alert.detail, when, f"Alert: {alert.key}"] if p)
    return subject[:250], body


def _send_email(channel: AlertChannel, subject: str, body: str) -> None:
    recipients = [a.strip() for a in channel.email_to.split(",") if a.strip()]
    if not recipients:
        raise SendError("the channel has no e-mail address")
    try:
        send_mail(subject, body, settings.ALERTS_FROM_EMAIL, recipients, fail_silently=False)
    except (SMTPException, OSError, ValueError) as exc:  # SMTP, network, bad header
        raise SendError(f"{type(exc).__name__}: {str(exc)[:300]}") from None


def _send_webhook(channel: AlertChannel, body: str) -> None:
    try:
        url = decrypt(channel.webhook_url_encrypted) if channel.webhook_url_encrypted else ""
    except DecryptError:
        raise SendError("the stored webhook URL cannot be decrypted (FIELD_ENCRYPTION_KEY)")
    if not is_http_url(url):
        raise SendError("the channel has no http(s) webhook URL")
    host = urlsplit(url).hostname or "the webhook"
    session = build_session(HttpPolicy(timeout=settings.ALERTS_WEBHOOK_TIMEOUT, retries=1))
    try:
        response = session.post(url, json={"text": body}, allow_redirects=False)
    except requests.RequestException as exc:  # never the exception's text: it has the URL
        raise SendError(f"{type(exc).__name__} talking to {host}") from None
    finally:
        session.close()
    if not 200 <= response.status_code < 300:
        raise SendError(scrub(f"HTTP {response.status_code} from {host}", url))


def channel_send(channel: AlertChannel, subject: str, body: str) -> None:
    """Send one message through ``channel`` now; raises ``SendError``."""
    if channel.kind == AlertChannel.Kind.EMAIL:
        _send_email(channel, subject, body)
    else:
        _send_webhook(channel, body)


def channel_send_test(*, channel: AlertChannel) -> None:
    """The admin's "Send a test message"; raises ``SendError``."""
    text = f"[Leadbrain TEST] Alerts reach this channel ({channel.name})."
    channel_send(channel, text, text)


def delivery_send(delivery: AlertDelivery) -> None:
    """Send one queued message now; raises ``SendError``."""
    subject, body = message_text(delivery.alert, delivery.event)
    channel_send(delivery.channel, subject, body)


def _sent_last_hour(channel_id: int, now: datetime) -> int:
    return AlertDelivery.objects.filter(
        channel_id=channel_id,
        status=AlertDelivery.Status.SENT,
        sent_at__gte=now - timedelta(hours=1),
    ).count()


def _record(delivery: AlertDelivery, now: datetime, error: str = "") -> None:
    AlertAttempt.objects.create(delivery=delivery, at=now, ok=not error, error=error[:1000])
    delivery.last_attempt_at = now
    if not error:
        delivery.status, delivery.sent_at, delivery.error = AlertDelivery.Status.SENT, now, ""
    else:
        delivery.attempts += 1
        delivery.error = error[:1000]
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = AlertDelivery.Status.FAILED
    delivery.save(update_fields=["status", "attempts", "error", "last_attempt_at", "sent_at"])


def deliveries_send(*, now: datetime) -> int:
    """Send every queued message (oldest first) within each channel's hourly limit.
    Returns how many went out."""
    pending = list(
        AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING)
        .select_related("alert", "channel")
        .order_by("id")[:BATCH]
    )
    sent_in_hour: dict[int, int] = {}
    sent = 0
    for delivery in pending:
        channel = delivery.channel
        if channel.pk not in sent_in_hour:
            sent_in_hour[channel.pk] = _sent_last_hour(channel.pk, now)
        if not channel.is_active or sent_in_hour[channel.pk] >= channel.max_per_hour:
            why = "channel is off" if not channel.is_active else "rate limit"
            delivery.status, delivery.error = (
                AlertDelivery.Status.SUPPRESSED,
                (f"{why}: {sent_in_hour[channel.pk]} messages in the last hour"),
            )
            delivery.save(update_fields=["status", "error"])
            continue
        try:
            delivery_send(delivery)
        except SendError as exc:
            logger.warning("alert message to %s failed: %s", channel.name, exc)
            _record(delivery, now, str(exc) or "failed")
            continue
        _record(delivery, now)
        sent_in_hour[channel.pk] += 1
        sent += 1
    return sent
