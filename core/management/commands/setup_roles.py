"""Create or update the role groups (admin, manager, agent, integrator) and their permissions."""

from typing import Any

from django.core.management.base import BaseCommand

from core.roles import roles_upsert


class Command(BaseCommand):
    help = "Create or update the role groups and give each exactly its declared permissions."

    def handle(self, *args: Any, **options: Any) -> None:
        for role, count in roles_upsert().items():
            self.stdout.write(f"role {role}: {count} permissions")
