from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from leads.models import Workspace
from leads.services import workspace_create


class Command(BaseCommand):
    help = "Create a workspace and print its slug."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--kind", choices=Workspace.Kind.values, default="internal")

    def handle(self, *args, **options):
        try:
            workspace = workspace_create(name=options["name"], kind=options["kind"])
        except ApplicationError as exc:
            raise CommandError(exc.message)
        self.stdout.write(workspace.slug)
