from django.db import models

from core.models import TimeStampedModel


class ViciServer(TimeStampedModel):
    """A VICIdial server reached through its Non-Agent API (non_agent_api.php)."""

    name = models.CharField(max_length=100, unique=True)
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
    max_concurrency = models.PositiveSmallIntegerField(default=10)
    max_calls_per_hour = models.PositiveIntegerField(default=20_000)
    is_active = models.BooleanField(default=True)
    db_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="Read-only MySQL/MariaDB URL of the Vici database, for call-log sync.",
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

    class Meta:
        ordering = ["server", "list_id"]
        constraints = [
            models.UniqueConstraint(fields=["server", "list_id"], name="vicilist_unique")
        ]
        verbose_name = "VICIdial list"

    def __str__(self) -> str:
        return f"{self.name} ({self.list_id})"
