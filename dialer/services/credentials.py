"""The VICIdial API password: stored encrypted (or named by an environment variable)."""

import os

from core import crypto
from core.errors import ApplicationError
from dialer.client import ViciClient
from dialer.models import ViciServer


def server_set_password(*, server: ViciServer, password: str) -> None:
    server.api_password_encrypted = crypto.encrypt(password)
    server.save(update_fields=["api_password_encrypted", "updated_at"])


def server_password(server: ViciServer) -> str:
    if server.api_password_env:
        value = os.environ.get(server.api_password_env)
        if value is None:
            raise ApplicationError(
                f"Environment variable {server.api_password_env} is not set.", code="no_password"
            )
        return value
    if not server.api_password_encrypted:
        raise ApplicationError("This server has no API password.", code="no_password")
    try:
        return crypto.decrypt(server.api_password_encrypted)
    except crypto.DecryptError:
        raise ApplicationError(
            "The stored password cannot be decrypted (no key in FIELD_ENCRYPTION_KEY fits): "
            "set it again.",
            code="no_password",
        )


def client_for(server: ViciServer) -> ViciClient:
    return ViciClient(
        url=server.api_url,
        user=server.api_user,
        password=server_password(server),
        source=server.source,
        timeout=server.timeout_seconds,
        pool_size=server.max_concurrency,
    )
