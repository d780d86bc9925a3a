from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.backups import backup_create, backups_prune
from core.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Back up the database into BACKUP_DIR/<stamp>/: a pg_dump of everything but the "
        "archive schema, one dump per archived partition, and manifest.json (sizes, SHA-256, "
        "row counts). Then keep only the newest BACKUP_KEEP backups."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", default="", help="Folder (default: BACKUP_DIR)")
        parser.add_argument("--keep", type=int, default=None, help="(default: BACKUP_KEEP)")

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["dir"] or settings.BACKUP_DIR)
        keep = settings.BACKUP_KEEP if options["keep"] is None else options["keep"]
        if keep < 1:
            raise CommandError("--keep must be at least 1")
        try:
            backup = backup_create(directory=directory)
            removed = backups_prune(keep=keep, directory=directory)
        except ApplicationError as exc:
            raise CommandError(exc.message)
        self.stdout.write(f"backup written: {backup.path}")
        for label, count in backup.manifest["counts"].items():
            self.stdout.write(f"  {label}: {count['live']} live, {count['archived']} archived")
        self.stdout.write(f"{len(removed)} old backup(s) removed (keeping {keep})")
