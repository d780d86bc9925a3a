import secrets

from django.db import models

from core.models import PartitionedModel, TimeStampedModel
from dialer.models import ViciServer
from leads.models import Lead

PATH_WEBHOOK, PATH_SYNC, PATH_RECONCILE = 1, 2, 4
PATH_NAMES = {PATH_WEBHOOK: "webhook", PATH_SYNC: "sync", PATH_RECONCILE: "reconcile"}


def new_token() -> str:
    return secrets.token_urlsafe(24)


class ServerHook(TimeStampedModel):
    """Per-server call-log settings: the webhook secret and the sync watermark."""

    server = models.OneToOneField(ViciServer, on_delete=models.CASCADE, related_name="hook")
    token = models.CharField(max_length=64, default=new_token, unique=True)
    sync_watermark = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_rows = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"hook of {self.server}"


class WebhookEvent(models.Model):
    """A call-URL request as VICIdial sent it, stored before answering (a table queue).

    The webhook answers after one INSERT; a ``calllogs`` worker upserts the events in batches
    and deletes them in the same transaction, so an event is never lost or applied twice.
    """

    id = models.BigAutoField(primary_key=True)
    server = models.ForeignKey(
        ViciServer, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    received_at = models.DateTimeField(auto_now_add=True)
    params = models.JSONField()

    def __str__(self) -> str:
        return f"webhook event {self.pk} of server {self.server_id}"


class WebhookDeadLetter(models.Model):
    """A stored call-URL event the drain could not apply, kept with the reason (the other
    events of its batch were applied). The admin's "retry" puts it back in the queue."""

    id = models.BigAutoField(primary_key=True)
    server = models.ForeignKey(ViciServer, on_delete=models.CASCADE, related_name="+")
    received_at = models.DateTimeField()
    failed_at = models.DateTimeField()
    params = models.JSONField()
    error = models.TextField()

    class Meta:
        ordering = ["-id"]
        verbose_name = "webhook dead letter"

    def __str__(self) -> str:
        return f"dead webhook event {self.pk} of server {self.server_id}"


class CallLog(PartitionedModel):
    """One VICIdial call, whichever path reported it. Partitioned by month on call time.

    ``call_time`` is the epoch prefix of Asterisk's ``uniqueid`` ("<epoch>.<seq>"), so the
    same call always maps to the same partition and (server, uniqueid, call_time) is a
    valid unique key on the partitioned table.
    """

    partition_key = "call_time"

    class Direction(models.TextChoices):
        OUTBOUND = "out", "Outbound"
        INBOUND = "in", "Inbound"

    id = models.BigAutoField(primary_key=True)
    # Indexed by the composite indexes below (server, call_time) and (lead, call_time).
    server = models.ForeignKey(ViciServer, on_delete=models.PROTECT, db_index=False)
    uniqueid = models.CharField(max_length=50)
    call_time = models.DateTimeField()
    lead = models.ForeignKey(
        Lead,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
    )
    lead_match = models.SmallIntegerField(
        default=0,
        help_text="How the lead was found: 3 its vendor_lead_code (our id), 2 the Vici "
        "lead id, 1 the phone (phone_number_log), 0 not found. The strongest wins.",
    )
    vici_lead_id = models.BigIntegerField(null=True, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    list_id = models.BigIntegerField(null=True, blank=True)
    campaign = models.CharField(max_length=20, blank=True)
    agent = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=6, blank=True)
    status_rank = models.SmallIntegerField(default=0)
    talk_seconds = models.IntegerField(default=0)
    term_reason = models.CharField(max_length=20, blank=True)
    call_id = models.CharField(max_length=40, blank=True)
    recording_url = models.CharField(max_length=500, blank=True)
    direction = models.CharField(max_length=3, choices=Direction.choices, default="out")
    paths = models.SmallIntegerField(default=0, help_text="webhook=1, sync=2, reconcile=4")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The lead's workspace and destination, copied here by database triggers (see
    # calllogs/migrations/0007_calllog_lead_scope.py) so a manager's list reads an index of its own
    # workspaces instead of probing the lead of every row; never written by code.
    lead_workspace_id = models.BigIntegerField(null=True, blank=True, editable=False)
    lead_destination_id = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-call_time"]
        constraints = [
            models.UniqueConstraint(
                fields=["server", "uniqueid", "call_time"], name="calllog_unique_call"
            )
        ]
        indexes = [
            models.Index(fields=["lead", "call_time"], name="calllog_lead_idx"),
            models.Index(fields=["server", "call_time"], name="calllog_server_time_idx"),
            # The admin's list and the dashboard's last 24 hours, newest first.
            models.Index(fields=["call_time", "id"], name="calllog_time_idx"),
            # A manager's list: the rows of their workspaces' leads (kept by triggers).
            models.Index(
                fields=["lead_workspace_id", "call_time", "id"], name="calllog_lead_ws_idx"
            ),
            models.Index(
                fields=["lead_destination_id", "call_time", "id"], name="calllog_lead_dest_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.uniqueid} {self.status}"

    @property
    def path_names(self) -> list[str]:
        return [name for bit, name in PATH_NAMES.items() if self.paths & bit]


class DispositionMap(models.Model):
    """VICIdial status -> what it means for the lead. Seeded with the standard statuses."""

    class Action(models.TextChoices):
        NONE = "none", "Nothing"
        ATTEMPT = "attempt", "Count as an attempt (no answer, busy, machine)"
        CALLBACK = "callback", "Keep open: callback"
        SALE = "sale", "Close: sale"
        NOT_INTERESTED = "not_interested", "Close: not interested"
        DNC = "dnc", "Do not call: suppress and stop sequences"
        CONTACTED = "contacted", "Contacted"

    status = models.CharField(max_length=6, unique=True)
    name = models.CharField(max_length=100)
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.NONE)
    final = models.BooleanField(
        default=True, help_text="A disposition (not a transient state like INCALL or QUEUE)."
    )

    class Meta:
        ordering = ["status"]

    def __str__(self) -> str:
        return f"{self.status} ({self.name})"


class ReconciliationRun(models.Model):
    """What one nightly comparison found and repaired, per server and day."""

    server = models.ForeignKey(ViciServer, on_delete=models.CASCADE)
    day = models.DateField()
    started_at = models.DateTimeField(auto_now_add=True)
    vici_calls = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    differing = models.PositiveIntegerField(default=0)
    drift_after = models.PositiveIntegerField(default=0)
    buckets = models.JSONField(default=dict, blank=True, help_text="drift per list/status/hour")

    class Meta:
        ordering = ["-day", "-started_at"]

    def __str__(self) -> str:
        return f"{self.server} {self.day}: {self.missing} missing, {self.differing} differing"
