"""Alert channels (where messages go), alerts (one row per firing) and delivery attempts.

Imported by ``core.models`` so they belong to the core app."""

from django.db import models
from django.db.models import Q


class Severity(models.TextChoices):
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK: dict[str, int] = {Severity.WARNING: 1, Severity.CRITICAL: 2}


class AlertChannel(models.Model):
    """An e-mail list or a Slack-compatible incoming webhook. The webhook URL is a secret
    (whoever has it can post): stored encrypted, never shown back or put in an error."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Slack-compatible webhook"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    email_to = models.CharField(
        max_length=1000, blank=True, help_text="Comma-separated addresses (e-mail channels)."
    )
    webhook_url_encrypted = models.TextField(blank=True, editable=False)
    min_severity = models.CharField(
        max_length=10,
        choices=Severity.choices,
        default=Severity.WARNING,
        help_text="Alerts below this severity are not sent here.",
    )
    max_per_hour = models.PositiveIntegerField(
        default=30, help_text="Messages sent at most per hour; more are recorded as suppressed."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    """One firing of one condition (``key``: rule and subject), from the evaluation that
    first found it until the first that did not."""

    class State(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    key = models.CharField(max_length=200)
    rule = models.CharField(max_length=100, db_index=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    summary = models.CharField(max_length=500)
    detail = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.FIRING)
    fired_at = models.DateTimeField(db_index=True)
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-fired_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(state="firing"), name="alert_one_firing_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class AlertDelivery(models.Model):
    """One message about one alert to one channel, and what came of sending it."""

    class Event(models.TextChoices):
        FIRED = "fired", "Fired"
        RESOLVED = "resolved", "Resolved"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"
        SUPPRESSED = "suppressed", "Suppressed (rate limit)"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=10, choices=Event.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "alert deliveries"
        indexes = [
            models.Index(
                fields=["id"], condition=Q(status="pending"), name="alertdelivery_pending_idx"
            ),
            models.Index(fields=["channel", "sent_at"], name="alertdelivery_sent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.alert.key} {self.event} -> {self.channel}"


class AlertAttempt(models.Model):
    """One try at sending a delivery: when, and what the channel answered (the
    delivery keeps the outcome; these rows keep every try)."""

    delivery = models.ForeignKey(AlertDelivery, on_delete=models.CASCADE, related_name="tries")
    at = models.DateTimeField()
    ok = models.BooleanField()
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.at:%Y-%m-%d %H:%M:%S} {'sent' if self.ok else 'failed'}"


class JobRun(models.Model):
    """When a periodic job last succeeded or failed (``core.alerts.jobs.job_run``), so an
    alert can say a nightly job did not run."""

    name = models.CharField(max_length=100, unique=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
