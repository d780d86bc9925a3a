import secrets
from datetime import date, time

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import PartitionedModel, TimeStampedModel
from leads.models import Lead, Workspace


def _webhook_secret() -> str:
    return secrets.token_urlsafe(24)


def default_stop_statuses() -> list[str]:
    return [Lead.Status.SALE, Lead.Status.NOT_INTERESTED, Lead.Status.DNC]


# A device's pause between two sends: at most a day (pacing arithmetic stays in range).
MAX_INTERVAL_SECONDS = 86_400


def daily_cap_on(day: date, daily_cap: int, warmup_days: int, active_since: date) -> int:
    """A device's cap on ``day``, ramped during warm-up (day one sends 1/warmup_days)."""
    if not warmup_days:
        return daily_cap
    age = max((day - active_since).days, 0) + 1
    if age >= warmup_days:
        return daily_cap
    return max(1, daily_cap * age // warmup_days)


class Device(TimeStampedModel):
    """A sending number (a WhatsApp session or an SMS line) behind an HTTP gateway.

    Pacing state lives on the row and is only changed under its row lock, so every worker
    process sees the same ``next_send_at``, ``sent_today`` and in-flight lease.
    """

    class Channel(models.TextChoices):
        WHATSAPP = "whatsapp", "WhatsApp"
        SMS = "sms", "SMS"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        DISCONNECTED = "disconnected", "Disconnected"
        BANNED = "banned", "Banned"

    class GatewayKind(models.TextChoices):
        WAHA = "waha", "WAHA (WhatsApp HTTP API)"

    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="devices")
    name = models.CharField(max_length=100)
    phone = models.CharField(max_length=20, help_text="E.164")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WHATSAPP)
    gateway_kind = models.CharField(
        max_length=16, choices=GatewayKind.choices, default=GatewayKind.WAHA
    )
    gateway_url = models.URLField(help_text="Base URL of the gateway, e.g. http://waha:3000")
    gateway_session = models.CharField(max_length=100, default="default")
    gateway_token = models.CharField(max_length=200, blank=True, help_text="X-Api-Key")
    webhook_secret = models.CharField(
        max_length=64, default=_webhook_secret, help_text="HMAC key of the gateway's webhooks"
    )

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=500, blank=True)
    min_interval_seconds = models.FloatField(default=5.0)
    max_interval_seconds = models.FloatField(default=15.0)
    daily_cap = models.PositiveIntegerField(default=1000)
    warmup_days = models.PositiveSmallIntegerField(
        default=0, help_text="Ramp the daily cap up linearly over this many days (0: no warm-up)."
    )
    active_since = models.DateField(default=date.today)

    # Pacing state (changed only by the dispatcher, under the row lock).
    next_send_at = models.DateTimeField(default=timezone.now, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    sent_on = models.DateField(null=True, blank=True, editable=False)
    sent_today = models.PositiveIntegerField(default=0, editable=False)
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Health: consecutive failures pause the device at BROADCAST_DEVICE_MAX_FAILURES.
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Paused for transient failures (5xx, timeouts): the gateway is probed at ``probe_at``
    # (backing off with each failed probe) and the device resumes when it answers. A pause
    # by a person, a ban or a logged-out session clears it: those wait for a person.
    probe_at = models.DateTimeField(null=True, blank=True, editable=False)
    probe_attempts = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(
                fields=["next_send_at"], name="device_due_idx", condition=Q(status="active")
            ),
            models.Index(
                fields=["probe_at"], name="device_probe_idx", condition=Q(status="paused")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone})"

    def clean(self):
        if self.min_interval_seconds is not None and self.max_interval_seconds is not None:
            if self.min_interval_seconds <= 0:
                raise ValidationError({"min_interval_seconds": "Must be above zero."})
            if self.max_interval_seconds > MAX_INTERVAL_SECONDS:
                raise ValidationError(
                    {"max_interval_seconds": "At most 86,400 seconds (one message a day)."}
                )
            if self.max_interval_seconds < self.min_interval_seconds:
                raise ValidationError(
                    {"max_interval_seconds": "Must be at least the minimum interval."}
                )

    def cap_for(self, day: date) -> int:
        return daily_cap_on(day, self.daily_cap, self.warmup_days, self.active_since)

    def sent_on_day(self, day: date) -> int:
        return self.sent_today if self.sent_on == day else 0


def _window_default_start() -> time:
    return time.fromisoformat(settings.BROADCAST_DEFAULT_WINDOW.split("-")[0])


def _window_default_end() -> time:
    return time.fromisoformat(settings.BROADCAST_DEFAULT_WINDOW.split("-")[1])


class Sequence(TimeStampedModel):
    """A drip sequence: ordered steps, a send window in the recipient's time, stop rules."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="sequences")
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    devices = models.ManyToManyField(
        Device,
        blank=True,
        related_name="sequences",
        help_text="Devices that send this sequence; empty: every active device of the workspace.",
    )
    window_start = models.TimeField(default=_window_default_start)
    window_end = models.TimeField(default=_window_default_end)
    placeholder_defaults = models.JSONField(
        default=dict,
        blank=True,
        help_text='Declares custom placeholders and fallbacks, e.g. {"first_name": "there", '
        '"promo": "WELCOME"}. A placeholder that is neither a lead field nor a key '
        "here is refused when the step is saved.",
    )
    stop_on_reply = models.BooleanField(default=True)
    stop_statuses = models.JSONField(
        default=default_stop_statuses,
        blank=True,
        help_text="Lead statuses that stop the sequence (checked before every send).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        errors = {}
        if self.window_start and self.window_end and self.window_start == self.window_end:
            errors["window_end"] = "The send window cannot be empty."
        defaults = self.placeholder_defaults
        if not isinstance(defaults, dict) or not all(
            isinstance(k, str) and k.isidentifier() and isinstance(v, str | int | float)
            for k, v in defaults.items()
        ):
            errors["placeholder_defaults"] = 'An object of name: text, e.g. {"promo": "WELCOME"}.'
        valid = {value for value, _ in Lead.Status.choices}
        if not isinstance(self.stop_statuses, list) or not set(self.stop_statuses) <= valid:
            errors["stop_statuses"] = f"A list of lead statuses among: {', '.join(sorted(valid))}."
        if errors:
            raise ValidationError(errors)


class Step(models.Model):
    """One message of a sequence, sent ``delay`` after the previous one was sent."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=1)
    delay_minutes = models.PositiveIntegerField(
        default=0, help_text="After the previous step was sent (the first step: after enrollment)."
    )
    template = models.TextField(help_text="Placeholders: {first_name}, {company}, custom keys…")
    media_url = models.URLField(blank=True)

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "position"], name="step_position_unique")
        ]

    def __str__(self) -> str:
        return f"{self.sequence} · step {self.position}"


class Enrollment(models.Model):
    """A lead going through a sequence, always on the same (sticky) device."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        STOPPED = "stopped", "Stopped"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    # Indexed by the constraints and indexes below (no separate foreign-key indexes: each one
    # costs on every one of millions of inserts).
    sequence = models.ForeignKey(
        Sequence, on_delete=models.PROTECT, related_name="enrollments", db_index=False
    )
    lead = models.ForeignKey(
        Lead,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="enrollments",
        db_index=False,
    )
    device = models.ForeignKey(
        Device, on_delete=models.PROTECT, related_name="enrollments", db_index=False
    )
    workspace_id = models.BigIntegerField()
    phone = models.CharField(max_length=20)
    timezone = models.CharField(max_length=64, help_text="The recipient's time zone")
    current_step = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [  # lead first: it is also the index of a lead's enrollments
            models.UniqueConstraint(fields=["lead", "sequence"], name="enrollment_unique")
        ]
        indexes = [
            models.Index(fields=["device", "phone"], name="enrollment_device_phone_idx"),
            models.Index(fields=["status", "id"], name="enrollment_status_idx"),
            # A manager's list: their workspace's enrollments, newest first.
            models.Index(fields=["workspace_id", "id"], name="enrollment_workspace_idx"),
            # The list filtered by sequence (and a sequence's delete, which checks for its
            # enrollments): 176 ms at 1,000,000 enrollments without it.
            models.Index(fields=["sequence", "id"], name="enrollment_sequence_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} lead {self.lead_id} in {self.sequence_id}"


class EnrollmentRequest(models.Model):
    """Enrollment work that waits in a table until it can happen: leads routed or enrolled
    while no device of the sequence was active (``no_device``), and large admin selections
    left to a worker (``queued``). Redis only wakes the worker; beat sweeps every minute.
    Consent is checked when the request is carried out, not when it was made."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Reason(models.TextChoices):
        NO_DEVICE = "no_device", "No active device"
        QUEUED = "queued", "Queued for a worker"

    id = models.BigAutoField(primary_key=True)
    sequence = models.ForeignKey(
        Sequence, on_delete=models.PROTECT, related_name="enrollment_requests"
    )
    lead_ids = ArrayField(models.BigIntegerField())
    lead_count = models.PositiveIntegerField()
    actor = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="Created and skipped counts.")
    created_at = models.DateTimeField(default=timezone.now)
    attempted_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["sequence", "id"],
                name="enrollrequest_pending_idx",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"request #{self.pk}: {self.lead_count} lead(s) for {self.sequence_id}"


class Message(PartitionedModel):
    """One message to one lead. LAZY: at most one unsent message per active enrollment."""

    partition_key = "scheduled_at"
    archive_keep_where = "status IN ('pending', 'sending')"  # a paused device's backlog stays

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    id = models.BigAutoField(primary_key=True)
    scheduled_at = models.DateTimeField()
    enrollment = models.ForeignKey(
        Enrollment,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="messages",
        db_index=False,
    )
    step = models.PositiveSmallIntegerField()
    device = models.ForeignKey(
        Device,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="messages",
        db_index=False,
    )
    lead = models.ForeignKey(
        Lead,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="messages",
        db_index=False,
    )
    body = models.TextField()
    media_url = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When a request for this message first left for the gateway (committed before the
    # request). Set and not recorded as sent: the outcome of an attempt is unknown (its
    # dispatcher died, or the request timed out), so the gateway is asked before a resend.
    attempted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    gateway_id = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    # The lead's workspace and destination, copied here by database triggers (see
    # broadcast/migrations/0007_message_lead_scope.py) so a manager's list reads an index of its own
    # workspaces instead of probing the lead of every row; never written by code.
    lead_workspace_id = models.BigIntegerField(null=True, blank=True, editable=False)
    lead_destination_id = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-scheduled_at"]
        indexes = [
            models.Index(
                fields=["device", "scheduled_at"],
                name="message_due_idx",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["lead", "scheduled_at"], name="message_lead_idx"),
            models.Index(fields=["enrollment"], name="message_enrollment_idx"),
            models.Index(
                fields=["gateway_id"], name="message_gateway_idx", condition=~Q(gateway_id="")
            ),
            models.Index(
                fields=["device"], name="message_sending_idx", condition=Q(status="sending")
            ),
            # The dashboard's sends per hour.
            models.Index(
                fields=["sent_at"], name="message_sent_idx", condition=Q(sent_at__isnull=False)
            ),
            # A manager's list: the rows of their workspaces' leads (kept by triggers).
            models.Index(fields=["lead_workspace_id", "id"], name="message_lead_ws_idx"),
            models.Index(fields=["lead_destination_id", "id"], name="message_lead_dest_idx"),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} step {self.step} to lead {self.lead_id}"
