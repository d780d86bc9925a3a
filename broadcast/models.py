from django.db import models

from core.models import TimeStampedModel
from leads.models import Workspace


class Sequence(TimeStampedModel):
    """A drip sequence of ordered steps (steps, windows and stop rules: broadcast issue)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="sequences")
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
