from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core import pg
from core.errors import ApplicationError
from core.restore import backup_restore, database_create_if_missing


class Command(BaseCommand):
    help = (
        "Restore a backup folder (made by `manage.py backup`) into an empty database, then "
        "check every partitioned table's row count against the backup's manifest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The backup folder, e.g. var/backups/20261203T033000Z")
        parser.add_argument(
            "--database-url",
            default="",
            help="Target database (default: DATABASE_URL's). It must be empty.",
        )
        parser.add_argument(
            "--create", action="store_true", help="Create the target database if missing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if not path.is_dir():
            raise CommandError(f"No backup folder at {path}")
        db = pg.database_settings(options["database_url"] or None)
        try:
            if options["create"] and database_create_if_missing(db):
                self.stdout.write(f"created database {db['NAME']}")
            counts = backup_restore(path=path, db=db)
        except ApplicationError as exc:
            raise CommandError(exc.message)
        self.stdout.write(f"restored {path} into {db['NAME']}; rows checked:")
        for label, count in counts.items():
            self.stdout.write(f"  {label}: {count['live']} live, {count['archived']} archived")
