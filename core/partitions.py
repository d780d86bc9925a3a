"""Monthly RANGE partitions for the big tables, without changing how Django sees them.

- ``CreatePartitionedModel`` is a migration operation: a ``CreateModel`` whose table is
  ``PARTITION BY RANGE (<partition_key>)`` with primary key ``(id, <partition_key>)`` and a
  DEFAULT partition, so no insert ever fails for lack of a partition.
- ``partition_ensure`` creates monthly partitions ahead of time. Rows that already landed
  in the default partition for that month are moved into the new partition first.
- ``partition_archive`` detaches partitions wholly older than a cutoff into the ``archive``
  schema: instant, nothing deleted, still readable through ``archived_tables``.

Partitions are named ``<table>_pYYYYMM``; bounds are UTC month starts.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections, models, transaction
from django.db.migrations.operations import CreateModel
from django.utils import timezone

from core.models import PartitionedModel
from core.pipeline import Statement

logger = logging.getLogger(__name__)

ARCHIVE_SCHEMA = "archive"
_CHILD = re.compile(r"_p(\d{4})(\d{2})$")


class CreatePartitionedModel(CreateModel):
    """``CreateModel`` for a table partitioned by month on ``partition_key``."""

    def __init__(
        self,
        name: str,
        fields: list[tuple[str, Any]],
        *,
        partition_key: str,
        options: dict[str, Any] | None = None,
        bases: tuple[Any, ...] | None = None,
        managers: list[tuple[str, Any]] | None = None,
    ) -> None:
        self.partition_key = partition_key
        super().__init__(name, fields, options=options, bases=bases, managers=managers)

    def deconstruct(self) -> tuple[str, Any, dict[str, Any]]:
        name, args, kwargs = super().deconstruct()
        kwargs["partition_key"] = self.partition_key
        return name, args, kwargs

    def database_forwards(
        self,
        app_label: str,
        schema_editor: Any,
        from_state: Any,
        to_state: Any,
    ) -> None:
        model = to_state.apps.get_model(app_label, self.name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            create_partitioned_table(schema_editor, model, self.partition_key)

    def describe(self) -> str:
        return f"Create model {self.name} partitioned by month on {self.partition_key}"


def create_partitioned_table(
    schema_editor: Any, model: type[models.Model], partition_key: str
) -> None:
    qn = schema_editor.quote_name
    table = model._meta.db_table
    pk_column = column_of(model, model._meta.pk.name)
    key_column = column_of(model, partition_key)
    sql, params = schema_editor.table_sql(model)
    if " PRIMARY KEY" not in sql:
        raise ValueError(f"{table}: expected a single-column primary key to widen")
    sql = sql.replace(" PRIMARY KEY", "", 1)
    close = sql.rfind(")")
    sql = (
        f"{sql[:close]}, PRIMARY KEY ({qn(pk_column)}, {qn(key_column)}))"
        f" PARTITION BY RANGE ({qn(key_column)})"
    )
    schema_editor.execute(sql, params or None)
    schema_editor.deferred_sql.extend(schema_editor._model_indexes_sql(model))
    schema_editor.execute(f"CREATE TABLE {qn(table + '_default')} PARTITION OF {qn(table)} DEFAULT")


def column_of(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column
    return field.column


@dataclass(frozen=True)
class Partition:
    name: str
    start: date
    end: date


def month_start(value: date | datetime) -> date:
    return date(value.year, value.month, 1)


def add_months(value: date, months: int) -> date:
    index = value.year * 12 + value.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _bound(value: date) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def partitioned_models() -> list[type[PartitionedModel]]:
    return [m for m in apps.get_models() if issubclass(m, PartitionedModel)]


def _table_exists(cursor: Any, name: str, schema: str = "public") -> bool:
    cursor.execute("SELECT to_regclass(%s)", [f'"{schema}"."{name}"'])
    return cursor.fetchone()[0] is not None


def partitions_list(model: type[PartitionedModel], *, using: str = "default") -> list[Partition]:
    table = model._meta.db_table
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent
            JOIN pg_namespace n ON n.oid = p.relnamespace
            WHERE p.relname = %s AND n.nspname = current_schema()
            """,
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    result = []
    for name in names:
        match = _CHILD.search(name)
        if match and name.startswith(table):
            start = date(int(match.group(1)), int(match.group(2)), 1)
            result.append(Partition(name=name, start=start, end=add_months(start, 1)))
    return sorted(result, key=lambda p: p.start)


def partition_ensure(
    model: type[PartitionedModel], *, start: date, months: int, using: str = "default"
) -> list[str]:
    """Create the monthly partitions from ``start`` for ``months`` months. Idempotent."""
    connection = connections[using]
    qn = connection.ops.quote_name
    table = model._meta.db_table
    key = column_of(model, model.partition_key)
    default = f"{table}_default"
    existing = {p.start for p in partitions_list(model, using=using)}
    created = []
    for offset in range(months):
        lower = add_months(month_start(start), offset)
        if lower in existing:
            continue
        upper = add_months(lower, 1)
        child = f"{table}_p{lower:%Y%m}"
        bounds = [_bound(lower), _bound(upper)]
        with transaction.atomic(using=using), connection.cursor() as cursor:
            if _table_exists(cursor, child):
                continue
            cursor.execute(f"LOCK TABLE {qn(default)} IN ACCESS EXCLUSIVE MODE")
            cursor.execute(
                f"SELECT 1 FROM {qn(default)} WHERE {qn(key)} >= %s AND {qn(key)} < %s LIMIT 1",
                bounds,
            )
            if cursor.fetchone() is None:
                cursor.execute(
                    f"CREATE TABLE {qn(child)} PARTITION OF {qn(table)} "
                    "FOR VALUES FROM (%s) TO (%s)",
                    bounds,
                )
            else:
                # Rows for this month already sit in the default partition: move them.
                cursor.execute(
                    f"CREATE TABLE {qn(child)} "
                    f"(LIKE {qn(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                )
                cursor.execute(
                    f"WITH moved AS (DELETE FROM {qn(default)} WHERE {qn(key)} >= %s "
                    f"AND {qn(key)} < %s RETURNING *) INSERT INTO {qn(child)} SELECT * FROM moved",
                    bounds,
                )
                cursor.execute(
                    f"ALTER TABLE {qn(table)} ATTACH PARTITION {qn(child)} "
                    "FOR VALUES FROM (%s) TO (%s)",
                    bounds,
                )
        created.append(child)
    return created


def partitions_ensure_all(*, using: str = "default", now: datetime | None = None) -> list[str]:
    now = now or timezone.now()
    created = []
    with connections[using].cursor() as cursor:
        models = [m for m in partitioned_models() if _table_exists(cursor, m._meta.db_table)]
    for model in models:
        created += partition_ensure(
            model,
            start=add_months(month_start(now), -1),
            months=settings.PARTITION_MONTHS_AHEAD + 2,
            using=using,
        )
    return created


# A partition's leaf whose live rows reached this many with no statistics yet, or twice
# the rows its last analysis counted, is analyzed by ``partitions_analyze_young``.
_YOUNG_SQL = """
SELECT c.oid::regclass::text
FROM unnest(%s::text[]) AS parent(name), pg_partition_tree(to_regclass(parent.name)) tree
JOIN pg_class c ON c.oid = tree.relid
JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE tree.isleaf AND s.n_live_tup >= %s AND s.n_mod_since_analyze > 0
  AND (s.n_live_tup >= 2 * greatest(c.reltuples, 0)
       OR NOT EXISTS (SELECT 1 FROM pg_stats st
                      WHERE st.schemaname = s.schemaname AND st.tablename = s.relname))
ORDER BY 1
"""


def partitions_analyze_young(*, min_rows: int | None = None, using: str = "default") -> list[str]:
    """ANALYZE each live partition that is filling faster than its statistics follow: one
    with ``min_rows`` live rows and no column statistics yet (a new month's partition, made
    empty months ahead), or with twice the rows its last analysis counted. Returns their
    names.

    Until its first analysis the planner has no idea how selective a dedupe hash is: the
    intake's lookup ties between the time, workspace and hash indexes and may read the
    whole partition per batch (10.2 ms a call instead of 0.11 at 1,000 leads/s,
    bench/README.md). Autovacuum analyzes it too, but only at its next round (up to
    ``autovacuum_naptime``, a minute by default, per database) and only when it is on;
    beat runs this every few seconds, and past its first doublings a partition is left to
    autovacuum's 10% rule."""
    min_rows = settings.PARTITION_ANALYZE_MIN_ROWS if min_rows is None else min_rows
    connection = connections[using]
    # Every partitioned model's table in one statement (``pg_partition_tree`` of a table
    # not migrated yet, ``to_regclass`` NULL, gives no rows).
    tables = [m._meta.db_table for m in partitioned_models()]
    with connection.cursor() as cursor:
        # This session's counters are sent at most once a second: a run right after a
        # batch of its own (a test, a management command) sees them.
        cursor.execute("SELECT pg_stat_force_next_flush(), pg_stat_clear_snapshot()")
        cursor.execute(_YOUNG_SQL, [tables, min_rows])
        names = [row[0] for row in cursor.fetchall()]
    analyzed = []
    for name in names:
        # Its own statement, outside any transaction: a lock held until the end of a long
        # one would hold up the next partition's ANALYZE and DDL on the table.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {name}")
        analyzed.append(name)
    if analyzed:
        logger.info("analyzed young partitions: %s", ", ".join(analyzed))
    return analyzed


def partition_archive(
    model: type[PartitionedModel],
    *,
    older_than: datetime,
    dry_run: bool = False,
    using: str = "default",
) -> list[str]:
    """Detach partitions whose whole range is before ``older_than`` into ``archive``."""
    connection = connections[using]
    qn = connection.ops.quote_name
    table = model._meta.db_table
    old = [p for p in partitions_list(model, using=using) if _bound(p.end) <= older_than]
    keep_where = getattr(model, "archive_keep_where", "")
    if keep_where and old:
        with connection.cursor() as cursor:
            busy = []
            for partition in old:
                cursor.execute(
                    f"SELECT EXISTS (SELECT 1 FROM {qn(partition.name)} WHERE {keep_where})"
                )
                if cursor.fetchone()[0]:
                    busy.append(partition)
        for partition in busy:
            logger.warning("%s kept: it still holds rows to work on", partition.name)
        old = [p for p in old if p not in busy]
    if dry_run or not old:
        return [p.name for p in old]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {qn(ARCHIVE_SCHEMA)}")
    for partition in old:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {qn(table)} DETACH PARTITION {qn(partition.name)}")
            cursor.execute(f"ALTER TABLE {qn(partition.name)} SET SCHEMA {qn(ARCHIVE_SCHEMA)}")
    return [p.name for p in old]


def archived_tables(
    model: type[models.Model], *, since: datetime | None = None, using: str = "default"
) -> list[str]:
    """Qualified names of ``model``'s archived partitions (optionally overlapping ``since``..)."""
    with connections[using].cursor() as cursor:
        cursor.execute(*archived_names_statement(model))
        names = [row[0] for row in cursor.fetchall()]
    return archived_tables_among(names, since=since)


def archived_names_statement(model: type[models.Model]) -> Statement:
    """The names in the archive schema that may be ``model``'s partitions (to send in a
    pipeline; ``archived_tables_among`` picks from its rows)."""
    return (archived_names_sql(model).replace("%", "%%"), [])


def archived_names_sql(model: type[models.Model]) -> str:
    """``archived_names_statement``'s text, its values written in (a statement without
    parameters, to prepare)."""
    # pg_class by its (relname, relnamespace) index: intake asks on every request, and
    # the pg_tables view cost ~0.6 ms to plan and run.
    pattern = f"{model._meta.db_table}\\_p%".replace("'", "''")
    return (
        f"SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace('{ARCHIVE_SCHEMA}') "
        f"AND relkind = 'r' AND relname LIKE '{pattern}'"
    )


def archived_tables_among(names: list[str], *, since: datetime | None = None) -> list[str]:
    """The qualified names of these archived partitions (optionally overlapping ``since``..)."""
    result = []
    for name in sorted(names):
        match = _CHILD.search(name)
        if not match:
            continue
        end = add_months(date(int(match.group(1)), int(match.group(2)), 1), 1)
        if since is None or _bound(end) > since:
            result.append(f'"{ARCHIVE_SCHEMA}"."{name}"')
    return result
