"""Evaluating the alert rules: open, keep and resolve alerts, queue their messages.

One evaluation at a time (a session advisory lock: a second beat or a manual run returns at
once). While a finding holds, its alert stays open and nothing is sent again; when it stops
holding, the alert resolves and one more message goes out. Messages are queued in the same
transaction as the state change, then sent (``core.alerts.channels``): a crash in between
sends them at the next evaluation.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.utils import timezone

from core.alerts.channels import deliveries_send
from core.alerts.models import SEVERITY_RANK, Alert, AlertChannel, AlertDelivery, Severity
from core.alerts.registry import CHECKS, Finding, alert_key
from core.locks import lock_key, try_session_lock
from core.secrets import scrub

logger = logging.getLogger("leadbrain.alerts")
CHECK_FAILED = "core.check_failed"


@dataclass
class Evaluation:
    ran: bool = True
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    firing: int = 0
    sent: int = 0


def _run_checks() -> tuple[dict[str, tuple[str, Finding]], set[str]]:
    """Every finding by key (with its rule), and the rules whose check answered."""
    found: dict[str, tuple[str, Finding]] = {}
    answered: set[str] = {CHECK_FAILED}
    for rule, check in sorted(CHECKS.items()):
        try:
            findings = list(check())
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:  # noqa: BLE001 - one broken check stops no other
            logger.exception("alert check %s failed", rule)
            text = scrub(f"{type(exc).__name__}: {exc}")[:300]
            failed = Finding(rule, f"The alert check {rule} fails: {text}", Severity.WARNING)
            found[alert_key(CHECK_FAILED, rule)] = (CHECK_FAILED, failed)
            continue
        answered.add(rule)
        for finding in findings:
            found[alert_key(rule, finding.subject)] = (rule, finding)
    return found, answered


def _queue(alerts: list[Alert], event: str, channels: list[AlertChannel]) -> None:
    rows = [
        AlertDelivery(alert=alert, channel=channel, event=event)
        for alert in alerts
        for channel in channels
        if SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[channel.min_severity]
    ]
    AlertDelivery.objects.bulk_create(rows)


def _apply(found: dict[str, tuple[str, Finding]], answered: set[str], now: datetime) -> Evaluation:
    result = Evaluation()
    firing = {a.key: a for a in Alert.objects.select_for_update().filter(state=Alert.State.FIRING)}
    new = [
        Alert(
            key=key,
            rule=rule,
            severity=finding.severity,
            summary=finding.summary[:500],
            detail=finding.detail,
            fired_at=now,
            last_seen_at=now,
        )
        for key, (rule, finding) in found.items()
        if key not in firing
    ]
    Alert.objects.bulk_create(new)
    kept = [firing[key] for key in found if key in firing]
    for alert in kept:
        _, finding = found[alert.key]
        alert.last_seen_at = now
        alert.summary = finding.summary[:500]  # the latest figures; no new message
        alert.detail = finding.detail
    Alert.objects.bulk_update(kept, ["last_seen_at", "summary", "detail"])
    gone = [a for key, a in firing.items() if key not in found and a.rule in answered]
    for alert in gone:
        alert.state, alert.resolved_at = Alert.State.RESOLVED, now
    Alert.objects.bulk_update(gone, ["state", "resolved_at"])
    channels = list(AlertChannel.objects.filter(is_active=True))
    _queue(new, AlertDelivery.Event.FIRED, channels)
    _queue(gone, AlertDelivery.Event.RESOLVED, channels)
    result.fired = [a.key for a in new]
    result.resolved = [a.key for a in gone]
    result.firing = Alert.objects.filter(state=Alert.State.FIRING).count()
    return result


def alerts_evaluate(*, now: datetime | None = None) -> Evaluation:
    """Run every check, update the alerts, send what changed. Beat runs it every minute."""
    with try_session_lock(lock_key("core.alerts.evaluate")) as taken:
        if not taken:
            return Evaluation(ran=False)
        found, answered = _run_checks()
        now = now or timezone.now()
        with transaction.atomic():
            result = _apply(found, answered, now)
        for key in result.fired:
            logger.error("alert fired: %s", key)
        for key in result.resolved:
            logger.warning("alert resolved: %s", key)
        result.sent = deliveries_send(now=timezone.now())
        return result
