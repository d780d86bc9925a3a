import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from core import roles
from core.models import PartitionedModel, TimeStampedModel


class Workspace(TimeStampedModel):
    """An internal team or a partner. API keys and leads belong to a workspace."""

    class Kind(models.TextChoices):
        INTERNAL = "internal", "Internal"
        PARTNER = "partner", "Partner"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.INTERNAL)
    timezone = models.CharField(max_length=64, default="UTC")
    dedupe_window_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: the DEDUPE_WINDOW_DAYS setting."
    )
    is_active = models.BooleanField(default=True)
    api_rate_per_minute = models.PositiveIntegerField(
        "API requests per minute",
        null=True,
        blank=True,
        help_text="For this workspace's API keys together. Empty: the API_RATE_PER_MINUTE "
        "setting; 0: no limit. Over it: 429 with Retry-After.",
    )
    api_max_concurrent = models.PositiveIntegerField(
        "API requests in flight",
        null=True,
        blank=True,
        help_text="Concurrent API requests of this workspace's keys. Empty: the "
        "API_MAX_CONCURRENT setting; 0: no limit. Keep it below the web capacity "
        "(processes x threads) so one workspace cannot take every worker.",
    )

    class Meta:
        ordering = ["name"]
        permissions = [("all_workspaces", "Sees and works in every workspace")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        cold = settings.COLD_STORAGE_AFTER_DAYS
        if cold and self.dedupe_window_days is not None and self.dedupe_window_days > cold:
            raise ValidationError(
                {
                    "dedupe_window_days": (
                        f"At most {cold} days (COLD_STORAGE_AFTER_DAYS): older leads leave the "
                        "database for cold storage, where dedupe does not see them."
                    )
                }
            )


class Membership(TimeStampedModel):
    """A person belongs to a workspace with a role; they see only their workspaces.

    The role is also a Django group (``core.roles``) that carries the model permissions;
    ``leads.services.membership_set`` keeps the person's groups and ``is_staff`` in step.
    """

    class Role(models.TextChoices):
        ADMIN = roles.ADMIN, "Admin"
        MANAGER = roles.MANAGER, "Manager"
        AGENT = roles.AGENT, "Agent"
        INTEGRATOR = roles.INTEGRATOR, "Integrator"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class ApiKey(TimeStampedModel):
    """A workspace's API key. Only a SHA-256 of the secret is stored; it is shown once."""

    PREFIX_LENGTH = 8

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    hashed_key = models.CharField(max_length=64, editable=False)
    is_staff = models.BooleanField(
        default=False, help_text="Staff keys may manage routing rules and other settings."
    )
    is_manager = models.BooleanField(
        "manager key",
        default=False,
        help_text="May configure its workspace through the API, as a manager in the admin: "
        "VICIdial servers and lists, devices, sequences, suppressions, routing destinations.",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.workspace})"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def generate(cls) -> tuple[str, str]:
        """A new raw key and its prefix: ``lb_<prefix>_<secret>``."""
        prefix = secrets.token_hex(cls.PREFIX_LENGTH // 2)
        return f"lb_{prefix}_{secrets.token_urlsafe(32)}", prefix

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Lead(PartitionedModel):
    """A person to call or message. Partitioned by month on ``created_at``."""

    partition_key = "created_at"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending routing"
        ROUTED = "routed", "Routed"
        UNROUTED = "unrouted", "Unrouted"
        SUPPRESSED = "suppressed", "Suppressed"
        EXPIRED = "expired", "Expired"
        FAILED = "failed", "Routing failed"
        CONTACTED = "contacted", "Contacted"
        CALLBACK = "callback", "Callback"
        SALE = "sale", "Sale (closed)"
        NOT_INTERESTED = "not_interested", "Not interested (closed)"
        DNC = "dnc", "Do not contact"

    id = models.BigAutoField(primary_key=True)
    # Indexed by the composite indexes that lead with it (external id, desk queue).
    workspace = models.ForeignKey(
        Workspace, on_delete=models.PROTECT, related_name="leads", db_index=False
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    email = models.CharField(max_length=254, blank=True)
    company = models.CharField(max_length=200, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=100, blank=True)
    external_id = models.CharField(max_length=100, blank=True)
    custom = models.JSONField(default=dict, blank=True)

    consent_at = models.DateTimeField(null=True, blank=True)
    consent_text = models.TextField(blank=True)
    consent_url = models.URLField(max_length=500, blank=True)
    consent_ip = models.GenericIPAddressField(null=True, blank=True)

    dedupe_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=255, blank=True)

    # Routing: claimed by a worker (locked_by/locked_at), attempts, deadline, outcome.
    locked_by = models.CharField(max_length=64, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    routing_attempts = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    # Indexed by the desk's queue index that leads with it (lead_dest_status_idx).
    destination_workspace = models.ForeignKey(
        Workspace,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="routed_leads",
        db_index=False,
    )
    routing_rule_id = models.BigIntegerField(null=True, blank=True)

    # Desk: when an agent promised to call back (status ``callback``).
    callback_at = models.DateTimeField(null=True, blank=True)

    # Dialer: where the lead lives in VICIdial.
    vici_lead_id = models.BigIntegerField(null=True, blank=True)
    vici_list_number = models.BigIntegerField(
        null=True, blank=True, help_text="The VICIdial list_id the lead is in (Vici's number)."
    )

    class Meta:
        ordering = ["-created_at"]
        # Every index costs each intake's insert and the planning of its dedupe lookup:
        # that lookup (workspace, hashes, window) reads lead_hash_idx (a person has a
        # lead or two per workspace), which routing's partner-sales check also needs.
        indexes = [
            models.Index(fields=["phone"], name="lead_phone_idx"),
            models.Index(fields=["email"], name="lead_email_idx"),
            models.Index(fields=["workspace", "external_id"], name="lead_external_idx"),
            models.Index(fields=["status", "created_at"], name="lead_status_idx"),
            models.Index(
                fields=["created_at"], name="lead_pending_idx", condition=Q(status="pending")
            ),
            models.Index(fields=["vici_lead_id"], name="lead_vici_idx"),
            models.Index(fields=["created_at"], name="lead_created_idx"),
            models.Index(fields=["dedupe_hash"], name="lead_hash_idx"),
            # The desk's queue: callbacks due, then each workspace's leads by status, newest
            # activity first (a lead is worked in its own or its destination workspace).
            models.Index(
                fields=["callback_at"], name="lead_callback_idx", condition=Q(status="callback")
            ),
            models.Index(fields=["workspace", "status", "updated_at"], name="lead_ws_status_idx"),
            models.Index(
                fields=["destination_workspace", "status", "updated_at"],
                name="lead_dest_status_idx",
            ),
            # The desk's search by name (``iexact`` is ``UPPER(col) = UPPER(%s)``).
            models.Index(Upper("last_name"), name="lead_last_name_idx"),
            models.Index(Upper("first_name"), name="lead_first_name_idx"),
            models.Index(
                fields=["external_id"], name="lead_extid_idx", condition=~Q(external_id="")
            ),
        ]
        permissions = [
            ("work_lead", "Works leads on the desk: notes and outcomes"),
            ("export_lead", "Exports leads as CSV"),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"#{self.pk} {name or self.phone or self.email}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class LeadEvent(PartitionedModel):
    """Append-only history of a lead, written in the same transaction as each change."""

    partition_key = "created_at"

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        DUPLICATE_RECEIVED = "duplicate_received", "Duplicate received"
        SUPPRESSED = "suppressed", "Suppressed"
        UPDATED = "updated", "Updated"
        STATUS_CHANGED = "status_changed", "Status changed"
        ROUTED = "routed", "Routed"
        UNROUTED = "unrouted", "Not routed"
        ROUTING_FAILED = "routing_failed", "Routing failed"
        EXPIRED = "expired", "Expired"
        PUSHED = "pushed", "Pushed to dialer"
        PUSH_FAILED = "push_failed", "Dialer push failed"
        PUSH_CANCELLED = "push_cancelled", "Dialer push cancelled"
        CALLED = "called", "Called"
        DISPOSITIONED = "dispositioned", "Dispositioned"
        ENROLLED = "enrolled", "Enrolled in sequence"
        MESSAGE_SENT = "message_sent", "Message sent"
        MESSAGE_STATUS = "message_status", "Message status"
        MESSAGE_RECEIVED = "message_received", "Reply received"
        ENROLLMENT_STOPPED = "enrollment_stopped", "Sequence stopped"
        ENROLLMENT_COMPLETED = "enrollment_completed", "Sequence completed"
        OPTED_OUT = "opted_out", "Opted out"
        ARCHIVED = "archived", "Archived"
        NOTE = "note", "Note"
        CALLBACK_SET = "callback_set", "Callback set"

    id = models.BigAutoField(primary_key=True)
    lead = models.ForeignKey(  # indexed by leadevent_lead_idx (lead, created_at)
        Lead,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="events",
        db_index=False,
    )
    created_at = models.DateTimeField()
    kind = models.CharField(max_length=32, choices=Kind.choices)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=100, blank=True)
    # The lead's workspace and destination, copied here so a manager's list reads an index
    # of its own workspaces instead of probing the lead of every row: given on insert by
    # writers that know it (intake for a new lead, routing), else read from the lead by the
    # insert trigger; followed on a reroute by triggers (leads 0011, 0012). Never edited.
    lead_workspace_id = models.BigIntegerField(null=True, blank=True, editable=False)
    lead_destination_id = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "created_at"], name="leadevent_lead_idx"),
            # The admin's list, newest first.
            models.Index(fields=["created_at", "id"], name="leadevent_created_idx"),
            # A manager's list: the rows of their workspaces' leads (kept by triggers).
            models.Index(
                fields=["lead_workspace_id", "created_at", "id"], name="leadevent_lead_ws_idx"
            ),
            models.Index(
                fields=["lead_destination_id", "created_at", "id"],
                name="leadevent_lead_dest_idx",
                condition=Q(lead_destination_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} @ {self.created_at:%Y-%m-%d %H:%M}"


class IntakeCount(models.Model):
    """What intake answered, per workspace and hour: a counter kept in the intake
    transaction, read by the manager dashboard (rejected and duplicate rows leave no lead
    of their own to count)."""

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    hour = models.DateTimeField()
    created = models.PositiveIntegerField(default=0)
    duplicate = models.PositiveIntegerField(default=0)
    suppressed = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "workspace"], name="intakecount_unique")
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} @ {self.hour:%Y-%m-%d %H}:00"


class Suppression(TimeStampedModel):
    """A phone or email that must never be contacted: global (no workspace) or per workspace."""

    class Kind(models.TextChoices):
        PHONE = "phone", "Phone"
        EMAIL = "email", "Email"

    class Source(models.TextChoices):
        """The ``source`` that Leadbrain's own write paths give (the admin list filter offers
        these and "other"). The field stays free text: an API client may name its own."""

        ADMIN = "admin", "Admin"
        API = "api", "API"
        DESK = "desk", "Agent desk"
        OPT_OUT = "opt-out", "Opt-out reply"
        DNC = "dnc", "DNC call disposition"
        VICIDIAL_DNC = "vicidial_dnc", "VICIdial DNC list"

    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="suppressions"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=254, help_text="E.164 phone or lower-cased email")
    reason = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=64, blank=True, help_text="admin, api, dnc, opt-out…")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "value", "workspace"],
                name="suppression_unique",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["value"], name="suppression_value_idx")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class IdempotencyRecord(models.Model):
    """Stored answer of a request sent with an ``Idempotency-Key`` header."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="idempotency_unique")
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id}:{self.key}"
