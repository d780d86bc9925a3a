"""Re-encrypt every stored secret with the current (first) FIELD_ENCRYPTION_KEY."""

from django.core.management.base import BaseCommand, CommandError

from core.crypto import ROTATIONS


class Command(BaseCommand):
    help = (
        "Encrypt every stored secret again with the first key of FIELD_ENCRYPTION_KEY. Run it "
        "after putting a new key first; then the older keys can be removed."
    )

    def handle(self, *args: object, **options: object) -> None:
        unreadable = 0
        for name, service in sorted(ROTATIONS.items()):
            result = service()
            unreadable += result.unreadable
            self.stdout.write(
                f"{name}: {result.rotated} re-encrypted"
                + (
                    f", {result.unreadable} unreadable (left as they are)"
                    if result.unreadable
                    else ""
                )
            )
        if unreadable:
            raise CommandError(
                f"{unreadable} secret(s) could not be decrypted with any configured key: keep "
                "the old key in FIELD_ENCRYPTION_KEY, or set those secrets again in admin."
            )
