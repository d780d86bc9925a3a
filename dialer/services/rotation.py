"""Key rotation of the dialer's stored secrets (``manage.py reencrypt_secrets``)."""

from django.db import transaction

from core import crypto
from dialer.models import ViciServer


def server_passwords_reencrypt() -> crypto.RotationResult:
    """Every stored VICIdial API password, encrypted again with the current key."""
    result = crypto.RotationResult()
    with transaction.atomic():
        servers = list(
            ViciServer.objects.select_for_update()
            .exclude(api_password_encrypted="")
            .only("pk", "api_password_encrypted")
        )
        rotated = []
        for server in servers:
            try:
                server.api_password_encrypted = crypto.rotate(server.api_password_encrypted)
            except crypto.DecryptError:
                result.unreadable += 1
                continue
            rotated.append(server)
        ViciServer.objects.bulk_update(rotated, ["api_password_encrypted"])
        result.rotated = len(rotated)
    return result
