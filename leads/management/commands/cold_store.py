from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from leads.services import partitions_cold_store_old


class Command(BaseCommand):
    help = (
        "Export archived partitions wholly older than --older-than days to gzip CSV files in "
        "COLD_STORAGE_DIR (manifest beside each), verify them and drop them from the database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=settings.COLD_STORAGE_AFTER_DAYS)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, **options):
        try:
            result = partitions_cold_store_old(
                older_than_days=options["older_than"], dry_run=options["dry_run"]
            )
        except ApplicationError as exc:
            raise CommandError(exc.message)
        verb = "would move" if options["dry_run"] else "moved"
        total = 0
        for label, names in result.items():
            for name in names:
                self.stdout.write(f"{verb} {name} ({label}) to cold storage")
            total += len(names)
        self.stdout.write(f"{total} partition(s) {verb} to {settings.COLD_STORAGE_DIR}")
