"""Cold storage: an archived partition becomes a gzip CSV file, then leaves the database.

For one table of the ``archive`` schema (``<table>_pYYYYMM``, see core/partitions.py):

1. ``COPY ... TO STDOUT (FORMAT csv, HEADER)`` streamed through gzip into
   ``<COLD_STORAGE_DIR>/<partition>.csv.gz.partial``, hashed (SHA-256) as it is written,
   fsynced, renamed to ``<partition>.csv.gz``;
2. verified: the file is read back (checksum, header = the table's columns, data rows
   counted) and must hold as many rows as the table;
3. ``<partition>.manifest.json`` written beside it (table, month, rows, SHA-256, columns,
   id range, format);
4. in one transaction, the table locked, its rows counted once more, a ``ColdPartition`` row
   recorded (the id range answers "where is lead N?") and the table dropped.

A crash before step 4 leaves the table in place and the next run exports it again. The CSV is
PostgreSQL's: NULL is an unquoted empty field, an empty string a quoted one; load it back with
``COPY <table> FROM STDIN (FORMAT csv, HEADER)`` into a table ``LIKE`` the parent.
"""

import csv
import gzip
import hashlib
import io
import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from django.db import connection, transaction
from django.utils import timezone

from core.errors import NOT_FOUND, VERIFY_FAILED, ApplicationError
from core.locks import lock_key
from core.models import ColdPartition
from core.partitions import ARCHIVE_SCHEMA

FILE_SUFFIX = ".csv.gz"
MANIFEST_SUFFIX = ".manifest.json"
FORMAT = "PostgreSQL COPY CSV with a header row, gzip; NULL = unquoted empty field"


class _HashingWriter(io.RawIOBase):
    """Writes through to ``raw`` and hashes what passes."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.size += len(view)
        return self.raw.write(view)


@dataclass(frozen=True)
class FileCheck:
    sha256: str
    header: list[str]
    rows: int


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_check(path: Path) -> FileCheck:
    """Read a cold file back: its SHA-256, its header and how many data rows it holds."""
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        for block in iter(lambda: raw.read(1024 * 1024), b""):
            digest.update(block)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        header = next(reader, [])
        rows = sum(1 for _ in reader)
    return FileCheck(sha256=digest.hexdigest(), header=header, rows=rows)


def _columns(cursor: Any, table: str) -> list[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        [ARCHIVE_SCHEMA, table],
    )
    return [row[0] for row in cursor.fetchall()]


def _export(qualified: str, target: Path) -> tuple[str, int]:
    """COPY the table into ``target`` through gzip; (SHA-256, bytes) of the file."""
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as raw:
        hashing = _HashingWriter(raw)
        with gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0) as gz:
            with connection.cursor() as cursor:
                sql = f"COPY {qualified} TO STDOUT (FORMAT csv, HEADER true)"
                with cursor.cursor.copy(sql) as copy:
                    for data in copy:
                        gz.write(data)
        raw.flush()
        os.fsync(raw.fileno())
    partial.replace(target)
    _fsync_path(target.parent)
    return hashing.digest.hexdigest(), hashing.size


def _month_of(partition: str) -> date:
    stamp = partition.rsplit("_p", 1)[1]
    return date(int(stamp[:4]), int(stamp[4:6]), 1)


def partition_cold_store(*, parent_table: str, partition: str, directory: Path) -> ColdPartition:
    """Export the archived ``partition`` of ``parent_table`` to ``directory`` and drop it."""
    qualified = f'"{ARCHIVE_SCHEMA}"."{partition}"'
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{partition}{FILE_SUFFIX}"
    with connection.cursor() as cursor:
        columns = _columns(cursor, partition)
        if not columns:
            raise ApplicationError(f"No archived table {partition}.", code=NOT_FOUND)
        cursor.execute(f"SELECT count(*), min(id), max(id) FROM {qualified}")
        rows, id_min, id_max = cursor.fetchone()
    sha256, size = _export(qualified, target)
    check = file_check(target)
    if check.sha256 != sha256 or check.header != columns or check.rows != rows:
        raise ApplicationError(
            f"{target} does not read back as written ({check.rows} rows of {rows}); "
            f"{partition} is kept.",
            code=VERIFY_FAILED,
        )
    month = _month_of(partition)
    manifest = {
        "table": parent_table,
        "partition": partition,
        "month": f"{month:%Y-%m}",
        "file": target.name,
        "rows": rows,
        "bytes": size,
        "sha256": sha256,
        "columns": columns,
        "id_min": id_min,
        "id_max": id_max,
        "format": FORMAT,
        "exported_at": timezone.now().isoformat(),
    }
    manifest_path = directory / f"{partition}{MANIFEST_SUFFIX}"
    manifest_path.write_text(json.dumps(manifest, indent=2))
    _fsync_path(manifest_path)
    return _record_and_drop(qualified, manifest)


def _record_and_drop(qualified: str, manifest: dict[str, Any]) -> ColdPartition:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {qualified} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"SELECT count(*) FROM {qualified}")
        if cursor.fetchone()[0] != manifest["rows"]:
            raise ApplicationError(
                f"{manifest['partition']} changed while it was exported; it is kept.",
                code=VERIFY_FAILED,
            )
        cold = ColdPartition.objects.create(
            parent_table=manifest["table"],
            partition=manifest["partition"],
            month=_month_of(manifest["partition"]),
            file_name=manifest["file"],
            rows=manifest["rows"],
            bytes=manifest["bytes"],
            sha256=manifest["sha256"],
            columns=manifest["columns"],
            id_min=manifest["id_min"],
            id_max=manifest["id_max"],
        )
        cursor.execute(f"DROP TABLE {qualified}")
    return cold


def cold_store_lock() -> bool:
    """Take the session lock of the cold storage run (False: another run holds it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key("core.cold_storage")])
        return bool(cursor.fetchone()[0])


def cold_store_unlock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_key("core.cold_storage")])
