"""Create a person (or reuse one by username) with a role in a workspace."""

import getpass

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from leads.models import Membership, Workspace
from leads.services import member_create


class Command(BaseCommand):
    help = "Give USERNAME the ROLE (admin, manager, agent, integrator) in the workspace SLUG."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("workspace", help="workspace slug")
        parser.add_argument("role", choices=Membership.Role.values)
        parser.add_argument("--password", help="for a new user; asked when not given")
        parser.add_argument("--email", default="")

    def handle(self, *args, username, workspace, role, password, email, **options):
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(f"Unknown workspace {workspace!r}.")
        if password is None and options.get("interactive", True) and self.stdin_is_tty():
            password = getpass.getpass(f"Password for {username} (empty: none): ") or None
        try:
            user = member_create(
                username=username, workspace=found, role=role, password=password, email=email
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        where = "/admin/" if user.is_staff else "/login/"
        self.stdout.write(f"{username} is {role} in {found.slug}; signs in at {where}")

    @staticmethod
    def stdin_is_tty() -> bool:
        import sys

        return sys.stdin.isatty()
