from typing import Any

from django.core.management.base import BaseCommand

from core.partitions import partitions_ensure_all


class Command(BaseCommand):
    help = "Create the monthly partitions of every partitioned table (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        created = partitions_ensure_all()
        self.stdout.write(f"partitions created: {len(created)}")
