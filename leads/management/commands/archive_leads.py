from django.conf import settings
from django.core.management.base import BaseCommand

from leads.services import partitions_archive_old


class Command(BaseCommand):
    help = (
        "Detach monthly partitions wholly older than --older-than days into the archive "
        "schema (leads, events and every other partitioned table). Nothing is deleted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=settings.ARCHIVE_RETENTION_DAYS)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, **options):
        if options["older_than"] < 1:
            self.stderr.write("--older-than must be at least 1 day")
            return
        result = partitions_archive_old(
            older_than_days=options["older_than"], dry_run=options["dry_run"]
        )
        verb = "would detach" if options["dry_run"] else "detached"
        total = 0
        for label, names in result.items():
            for name in names:
                self.stdout.write(f"{verb} {name} ({label})")
            total += len(names)
        self.stdout.write(f"{total} partition(s) {verb}")
