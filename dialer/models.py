from django.core.validators import MinValueValidator
from django.db import models

from core.models import TimeStampedModel
from core.timezones import validate_timezone


class ViciServer(TimeStampedModel):
    """A VICIdial server reached through its Non-Agent API (non_agent_api.php)."""

    name = models.CharField(max_length=100, unique=True)
    workspace = models.ForeignKey(
        "leads.Workspace",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="vici_servers",
        help_text="The team that set it up through the configuration API (its manager key "
        "manages it there); empty: admins only. Any workspace's lists may use a server of no "
        "workspace.",
    )
    api_url = models.URLField(help_text="Full URL of non_agent_api.php")
    api_user = models.CharField(max_length=20)
    api_password_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the environment variable holding the API password.",
    )
    api_password_encrypted = models.TextField(blank=True, editable=False)
    source = models.CharField(max_length=20, default="leadbrain", help_text="Vici `source` tag")
    timeout_seconds = models.FloatField(default=10.0)
    max_concurrency = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1)],
        help_text="Requests in flight at once (4-10 suits a 2-core VICIdial).",
    )
    max_calls_per_hour = models.PositiveIntegerField(default=20_000)
    is_active = models.BooleanField(default=True)
    db_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="Read-only MySQL/MariaDB URL of the Vici database, for call-log sync.",
    )
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="The Vici server's time zone (its logs' call_date is local server time).",
        validators=[validate_timezone],
    )
    paused_until = models.DateTimeField(
        null=True, blank=True, help_text="No requests are sent until then (login errors)."
    )
    paused_reason = models.CharField(max_length=500, blank=True)
    calls_hour = models.DateTimeField(null=True, blank=True, editable=False)
    calls_in_hour = models.PositiveIntegerField(default=0, editable=False)
    last_error = models.TextField(blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    alert = models.TextField(
        blank=True,
        help_text="A problem only an admin can fix (e.g. a list VICIdial does not have); "
        'cleared by the admin\'s "Clear alert" action.',
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "VICIdial server"

    def __str__(self) -> str:
        return self.name


class ViciList(TimeStampedModel):
    """A VICIdial list (in a campaign). Routing rules send leads to a list."""

    class DuplicateCheck(models.TextChoices):
        NONE = "", "No duplicate check"
        DUPLIST = "DUPLIST", "Same list"
        DUPCAMP = "DUPCAMP", "Same campaign"
        DUPSYS = "DUPSYS", "Whole system"

    server = models.ForeignKey(ViciServer, on_delete=models.PROTECT, related_name="lists")
    workspace = models.ForeignKey(
        "leads.Workspace",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="vici_lists",
        help_text="The team whose managers run this list; empty: admins only.",
    )
    list_id = models.BigIntegerField()
    campaign_id = models.CharField(max_length=20, blank=True)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    duplicate_check = models.CharField(
        max_length=10, choices=DuplicateCheck.choices, default=DuplicateCheck.DUPLIST, blank=True
    )
    duplicate_check_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Window in days (e.g. DUPLIST30DAY); empty: no window."
    )
    add_to_hopper = models.BooleanField(default=False)
    hopper_priority = models.SmallIntegerField(default=0)
    campaign_dnc_check = models.BooleanField(
        default=False,
        help_text="The list's campaign keeps its own DNC list in VICIdial: every add also "
        "sends campaign_dnc_check=Y with the campaign id (the system DNC list is always "
        "checked).",
    )

    class Meta:
        ordering = ["server", "list_id"]
        constraints = [
            models.UniqueConstraint(fields=["server", "list_id"], name="vicilist_unique"),
            models.CheckConstraint(
                condition=~models.Q(campaign_dnc_check=True, campaign_id=""),
                name="vicilist_campaign_dnc_needs_campaign",
                violation_error_message="The campaign DNC check needs the list's campaign id.",
            ),
        ]
        verbose_name = "VICIdial list"

    def __str__(self) -> str:
        return f"{self.name} ({self.list_id})"


class OutboxItem(models.Model):
    """One pending VICIdial operation for a lead (a table queue; Redis only wakes workers)."""

    class Operation(models.TextChoices):
        ADD = "add", "Add to list"
        MOVE = "move", "Move to list"
        UPDATE = "update", "Update fields"
        STATUS = "status", "Set status"
        DNC = "dnc", "Add phone to the DNC list"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_FLIGHT = "in_flight", "In flight"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (Vici said no)"
        DEAD = "dead", "Dead (gave up retrying)"
        CANCELLED = "cancelled", "Cancelled (the lead must not be contacted)"

    lead_id = models.BigIntegerField(db_index=True)
    server = models.ForeignKey(ViciServer, on_delete=models.PROTECT, related_name="outbox")
    vici_list = models.ForeignKey(
        ViciList,
        on_delete=models.PROTECT,
        related_name="outbox",
        null=True,
        blank=True,
        help_text="Empty for a DNC-list item (it is about the server, not a list).",
    )
    operation = models.CharField(max_length=8, choices=Operation.choices)
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    leased_until = models.DateTimeField(null=True, blank=True)
    vici_lead_id = models.BigIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The lead's workspace and destination, copied here by database triggers (see
    # dialer/migrations/0012_outboxitem_lead_scope.py) so a manager's list reads an index of its own
    # workspaces instead of probing the lead of every row; never written by code.
    lead_workspace_id = models.BigIntegerField(null=True, blank=True, editable=False)
    lead_destination_id = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lead_id", "operation", "vici_list"],
                condition=models.Q(state__in=["pending", "in_flight"]),
                name="outbox_one_open_per_lead_operation",
            ),
            models.UniqueConstraint(
                fields=["lead_id", "server"],
                condition=models.Q(operation="dnc", state__in=["pending", "in_flight"]),
                name="outbox_one_open_dnc_per_lead_server",
            ),
            models.CheckConstraint(
                condition=models.Q(operation="dnc") | models.Q(vici_list__isnull=False),
                name="outbox_list_unless_dnc",
            ),
        ]
        indexes = [
            models.Index(
                fields=["server", "next_attempt_at"],
                condition=models.Q(state__in=["pending", "in_flight"]),
                name="outbox_due_idx",
            ),
            models.Index(fields=["state", "id"], name="outbox_state_idx"),
            # The dashboard's items sent in the last 24 hours.
            models.Index(
                fields=["sent_at"], name="outbox_sent_idx", condition=models.Q(state="sent")
            ),
            # A manager's list: the rows of their workspaces' leads (kept by triggers).
            models.Index(fields=["lead_workspace_id", "id"], name="outbox_lead_ws_idx"),
            models.Index(fields=["lead_destination_id", "id"], name="outbox_lead_dest_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_operation_display()} lead {self.lead_id} ({self.state})"
