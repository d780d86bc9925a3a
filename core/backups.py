"""Backups of the whole database, restorable into an empty one and checked against counts.

A backup is a folder ``<BACKUP_DIR>/<YYYYmmddTHHMMSSZ>/`` holding:

- ``database.dump``: ``pg_dump`` custom format of everything but the ``archive`` schema;
- ``archive/<table>.dump``: one ``pg_dump`` per archived partition (``archive`` schema),
  so old months can be restored, copied or dropped one by one;
- ``manifest.json``: every file with its size and SHA-256, and the row counts of each
  partitioned table (leads, lead events, call logs, messages, routing log), live and
  archived.

All dumps and counts read one exported snapshot, so they agree with each other even while
the system keeps writing and the nightly archive detaches partitions. The folder is written
as ``<stamp>.partial`` and renamed when complete: a folder without the suffix is whole.
Only one backup runs at a time (an advisory lock). Cold storage files (COLD_STORAGE_DIR)
are not in the database any more and are not part of a backup: copy that folder as well.
"""

import hashlib
import json
import logging
import re
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from core import pg
from core.errors import BUSY, CONFLICT, DAMAGED, INVALID, ApplicationError
from core.locks import lock_key
from core.partitions import ARCHIVE_SCHEMA, partitioned_models

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DATABASE_FILE = "database.dump"
STAMP = "%Y%m%dT%H%M%SZ"
_STAMP_RE = re.compile(r"^\d{8}T\d{6}Z$")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Backup:
    path: Path
    manifest: dict[str, Any]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def archived_table_names(cursor: Any) -> list[str]:
    cursor.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
        [ARCHIVE_SCHEMA],
    )
    return [row[0] for row in cursor.fetchall()]


def row_counts(cursor: Any) -> dict[str, dict[str, int]]:
    """Rows of every partitioned table: ``{label: {"live": n, "archived": m}}``."""
    archived = archived_table_names(cursor)
    counts = {}
    for model in partitioned_models():
        table = model._meta.db_table
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
        if not cursor.fetchone()[0]:
            continue
        cursor.execute(f'SELECT count(*) FROM "{table}"')
        live = cursor.fetchone()[0]
        total = 0
        for name in archived:
            if re.fullmatch(rf"{re.escape(table)}_p\d{{6}}", name):
                cursor.execute(f'SELECT count(*) FROM "{ARCHIVE_SCHEMA}"."{name}"')
                total += cursor.fetchone()[0]
        counts[model._meta.label] = {"live": live, "archived": total}
    return counts


def _file_entry(root: Path, path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": path.relative_to(root).as_posix(),
        "bytes": path.stat().st_size,
        "sha256": sha256_of(path),
        **extra,
    }


def _dump(db: dict[str, Any], snapshot: str, target: Path, selection: list[str]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    pg.run_tool(
        "pg_dump",
        ["--format=custom", f"--snapshot={snapshot}", f"--file={target}", *selection],
        db=db,
    )


def backup_create(*, directory: Path | None = None) -> Backup:
    """Write a complete backup of the default database into ``directory`` (BACKUP_DIR)."""
    root = Path(directory or settings.BACKUP_DIR)
    root.mkdir(parents=True, exist_ok=True)
    now = timezone.now()
    final = root / now.strftime(STAMP)
    partial = root / f"{final.name}.partial"
    if final.exists():
        raise ApplicationError(f"{final} already exists.", code=CONFLICT, status_code=409)
    db = pg.database_settings()
    with pg.connect(db, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key("core.backup")])
        if not cursor.fetchone()[0]:
            raise ApplicationError("A backup is already running.", code=BUSY, status_code=409)
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        counts = row_counts(cursor)
        archived = archived_table_names(cursor)
        shutil.rmtree(partial, ignore_errors=True)
        _dump(db, snapshot, partial / DATABASE_FILE, [f"--exclude-schema={ARCHIVE_SCHEMA}"])
        files = [_file_entry(partial, partial / DATABASE_FILE, kind="database")]
        for table in archived:
            target = partial / ARCHIVE_SCHEMA / f"{table}.dump"
            _dump(db, snapshot, target, [f"--table={ARCHIVE_SCHEMA}.{table}"])
            files.append(_file_entry(partial, target, kind="archive", table=table))
        cursor.execute("ROLLBACK")
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": now.isoformat(),
        "database": db["NAME"],
        "files": files,
        "counts": counts,
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
    partial.rename(final)
    logger.info("backup written to %s (%d files)", final, len(files))
    return Backup(path=final, manifest=manifest)


def backups_list(directory: Path | None = None) -> list[Path]:
    """Complete backups in ``directory``, oldest first."""
    root = Path(directory or settings.BACKUP_DIR)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if _STAMP_RE.match(p.name) and (p / MANIFEST).is_file())


def backups_prune(*, keep: int, directory: Path | None = None) -> list[Path]:
    """Delete all but the newest ``keep`` complete backups, and unfinished ones older than a
    day (a crashed run). Only folders named like a backup are touched."""
    if keep < 1:
        raise ApplicationError("Keep at least one backup.", code=INVALID)
    root = Path(directory or settings.BACKUP_DIR)
    complete = backups_list(root)
    removed = complete[:-keep]
    stale_before = (timezone.now() - timedelta(days=1)).strftime(STAMP)
    if root.is_dir():
        for path in root.glob("*.partial"):
            stamp = path.name.removesuffix(".partial")
            if _STAMP_RE.match(stamp) and stamp < stale_before:
                removed.append(path)
    for path in removed:
        shutil.rmtree(path)
        logger.info("old backup %s removed", path)
    return removed


def backup_verify(path: Path) -> dict[str, Any]:
    """The backup's manifest, after checking every file's size and SHA-256."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        raise ApplicationError(f"{path} is not a complete backup (no {MANIFEST}).", code=INVALID)
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    bad = []
    for entry in manifest["files"]:
        file = Path(path) / entry["name"]
        if not file.is_file() or file.stat().st_size != entry["bytes"]:
            bad.append(f"{entry['name']}: missing or wrong size")
        elif sha256_of(file) != entry["sha256"]:
            bad.append(f"{entry['name']}: checksum differs")
    if bad:
        raise ApplicationError("The backup is damaged: " + "; ".join(bad), code=DAMAGED)
    return manifest
