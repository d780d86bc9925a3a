import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core.models import PartitionedModel, TimeStampedModel
from core.timezones import validate_timezone
from leads import fields as lead_fields
from leads.models import Lead, Workspace
from routing.patterns import PatternError, compile_pattern

LEAD_FIELDS = lead_fields.MATCHABLE
WINDOW_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class RoutingRule(TimeStampedModel):
    """Managers' rule: if a lead matches the conditions, send it to a destination."""

    class Distribution(models.TextChoices):
        SINGLE = "single", "Single (first open destination)"
        ROUND_ROBIN = "round_robin", "Round robin"
        WEIGHTED = "weighted", "Weighted"

    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    priority = models.IntegerField(default=100, help_text="Higher runs first; ties by id.")
    workspaces = models.ManyToManyField(
        Workspace, blank=True, related_name="+", help_text="Source scope; empty: every workspace."
    )
    sources = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated lead sources; empty: any source."
    )
    distribution = models.CharField(
        max_length=16, choices=Distribution.choices, default=Distribution.SINGLE
    )
    rotation = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-priority", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def source_list(self) -> list[str]:
        return [s.strip() for s in self.sources.split(",") if s.strip()]


class RuleCondition(models.Model):
    class Operator(models.TextChoices):
        EQUALS = "eq", "equals"
        NOT_EQUALS = "ne", "not equals"
        IN = "in", "in list"
        NOT_IN = "not_in", "not in list"
        CONTAINS = "contains", "contains"
        STARTS_WITH = "startswith", "starts with"
        GREATER = "gt", "greater than"
        LESS = "lt", "less than"
        EMPTY = "empty", "is empty"
        REGEX = "regex", "matches regex"
        LOCAL_TIME = "local_time", "local time within window"

    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="conditions")
    group = models.PositiveSmallIntegerField(
        default=0, help_text="Conditions in one group must all hold; any group may match (OR)."
    )
    group_name = models.CharField(
        max_length=60,
        blank=True,
        help_text="The OR group's name, as managers read it (the number is its identity).",
    )
    field = models.CharField(
        max_length=100, help_text="A lead field, or custom.<key> for a custom JSON key."
    )
    operator = models.CharField(max_length=16, choices=Operator.choices)
    value = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["group", "id"]

    def __str__(self) -> str:
        return f"{self.field} {self.get_operator_display()} {self.value}"

    def clean(self) -> None:
        errors = {}
        if self.field not in LEAD_FIELDS and not (
            self.field.startswith("custom.") and len(self.field) > len("custom.")
        ):
            errors["field"] = f"Unknown field. Use one of {', '.join(LEAD_FIELDS)} or custom.<key>."
        if self.operator == self.Operator.REGEX:
            try:
                compile_pattern(self.value)
            except PatternError as exc:
                errors["value"] = (
                    f"Not a valid regular expression: {exc}. RE2 syntax (no backreferences "
                    "or lookaround)."
                )
        elif self.operator == self.Operator.LOCAL_TIME:
            if not WINDOW_RE.match(self.value):
                errors["value"] = "Use a window like 09:00-17:00."
        elif self.operator in (self.Operator.GREATER, self.Operator.LESS):
            try:
                float(self.value)
            except ValueError:
                errors["value"] = "Must be a number."
        elif self.operator != self.Operator.EMPTY and self.value == "":
            errors["value"] = "This operator needs a value."
        if errors:
            raise ValidationError(errors)


class RuleDestination(models.Model):
    """Where a matching lead goes: a workspace, optionally a Vici list and a sequence."""

    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="destinations")
    workspace = models.ForeignKey(Workspace, on_delete=models.PROTECT, related_name="+")
    vici_list = models.ForeignKey(
        "dialer.ViciList", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sequence = models.ForeignKey(
        "broadcast.Sequence", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    weight = models.PositiveIntegerField(default=1)
    cap_per_hour = models.PositiveIntegerField(null=True, blank=True)
    cap_per_day = models.PositiveIntegerField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    schedule_days = models.CharField(
        max_length=7, default="0123456", blank=True, help_text="Open weekdays, Monday=0."
    )
    schedule_start = models.TimeField(null=True, blank=True)
    schedule_end = models.TimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.workspace} (rule {self.rule_id})"

    def clean(self) -> None:
        if any(c not in "0123456" for c in self.schedule_days):
            raise ValidationError({"schedule_days": "Use digits 0 (Monday) to 6 (Sunday)."})
        if (self.schedule_start is None) != (self.schedule_end is None):
            raise ValidationError({"schedule_end": "Give both start and end, or neither."})
        if self.weight < 1:
            raise ValidationError({"weight": "Weight must be at least 1."})


class CapCounter(models.Model):
    """Leads sent to a destination in one local hour or day; locked to keep caps exact."""

    destination = models.ForeignKey(RuleDestination, on_delete=models.CASCADE)
    period = models.CharField(max_length=1, choices=[("h", "hour"), ("d", "day")])
    period_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["destination", "period", "period_start"], name="capcounter_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.destination_id}/{self.period}/{self.period_start}: {self.count}"


class RulesVersion(models.Model):
    """One row; bumped in the same transaction as any rule change (cache key)."""

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return str(self.version)


class RoutingLog(PartitionedModel):
    """One row per routing decision. Partitioned by month on ``created_at``."""

    partition_key = "created_at"

    class Outcome(models.TextChoices):
        ROUTED = "routed", "Routed"
        FALLBACK = "fallback", "Fallback"
        UNROUTED = "unrouted", "Unrouted"
        EXPIRED = "expired", "Expired"
        SUPPRESSED = "suppressed", "Suppressed (do not contact)"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField()
    lead = models.ForeignKey(  # indexed by routinglog_lead_idx (lead, created_at)
        Lead, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False
    )
    rule_id = models.BigIntegerField(null=True, blank=True)
    rule_name = models.CharField(max_length=200, blank=True)
    destination_workspace_id = models.BigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.TextField(blank=True)
    duration_ms = models.FloatField(default=0)
    worker = models.CharField(max_length=64, blank=True)
    # The lead's workspace and destination, copied here so a manager's list reads an index
    # of its own workspaces instead of probing the lead of every row: given by routing when
    # it writes the row, else read from the lead by the insert trigger; followed on a
    # reroute by triggers (routing 0005, 0006). Never edited.
    lead_workspace_id = models.BigIntegerField(null=True, blank=True, editable=False)
    lead_destination_id = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["lead", "created_at"], name="routinglog_lead_idx"),
            models.Index(fields=["rule_id", "created_at"], name="routinglog_rule_idx"),
            models.Index(fields=["created_at", "id"], name="routinglog_created_idx"),
            # A manager's list: the rows of their workspaces' leads (kept by triggers).
            models.Index(
                fields=["lead_workspace_id", "created_at", "id"], name="routinglog_lead_ws_idx"
            ),
            models.Index(
                fields=["lead_destination_id", "created_at", "id"],
                name="routinglog_lead_dest_idx",
                condition=Q(lead_destination_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.outcome}"


class RetryItem(TimeStampedModel):
    """A lead whose routing failed: retried with exponential backoff and jitter."""

    lead_id = models.BigIntegerField(unique=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_retry_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True)
    is_dead = models.BooleanField(default=False, help_text="Gave up: the lead is failed.")

    class Meta:
        ordering = ["next_retry_at"]

    def __str__(self) -> str:
        return f"lead {self.lead_id} (attempt {self.attempts})"
