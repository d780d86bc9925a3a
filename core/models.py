from typing import ClassVar

from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class PartitionedModel(models.Model):
    """A model whose table is RANGE-partitioned by month on ``partition_key``.

    The Django primary key stays ``id``; in PostgreSQL the key is ``(id, partition_key)``.
    The table is created by ``core.partitions.CreatePartitionedModel`` in migrations, and
    foreign keys pointing at such a model must use ``db_constraint=False``.
    """

    partition_key: ClassVar[str] = "created_at"
    # SQL condition of rows that are still work to do: a partition holding any is not archived.
    archive_keep_where: ClassVar[str] = ""

    class Meta:
        abstract = True


class ColdPartition(models.Model):
    """An archived monthly partition exported to a gzip CSV file and dropped from the database
    (core/coldstorage.py). The id range answers "where is record N now?"."""

    parent_table = models.CharField(max_length=63, help_text="The partitioned table")
    partition = models.CharField(max_length=63, unique=True)
    month = models.DateField()
    file_name = models.CharField(max_length=255, help_text="In COLD_STORAGE_DIR")
    rows = models.BigIntegerField()
    bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    columns = models.JSONField(default=list)
    id_min = models.BigIntegerField(null=True, blank=True)
    id_max = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["parent_table", "-month"]
        indexes = [
            models.Index(fields=["parent_table", "id_min", "id_max"], name="coldpartition_ids_idx")
        ]

    def __str__(self) -> str:
        return self.partition


# The alert models live with their package; imported here so they belong to the core app.
from core.alerts.models import Alert, AlertChannel, AlertDelivery, JobRun  # noqa: E402, F401
