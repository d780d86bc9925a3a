from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from leads.models import Workspace
from leads.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a workspace and print it (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="default")
        parser.add_argument(
            "--staff",
            action="store_true",
            help="May manage every workspace's routing rules (internal workspaces only)",
        )
        parser.add_argument(
            "--manager",
            action="store_true",
            help="May configure its workspace through the API (servers, lists, devices, "
            "sequences, suppressions, routing destinations)",
        )

    def handle(self, *args, **options):
        workspace = Workspace.objects.filter(slug=options["slug"]).first()
        if workspace is None:
            raise CommandError(f"No workspace with slug {options['slug']!r}.")
        try:
            _, raw = api_key_create(
                workspace=workspace,
                name=options["name"],
                is_staff=options["staff"],
                is_manager=options["manager"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(raw)
