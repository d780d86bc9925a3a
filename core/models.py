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
