"""The VICIdial API password (stored encrypted, or named by an environment variable), the
client of a server, and resuming a paused server after its login is checked."""

import os
import re

from core import crypto
from core.errors import ApplicationError
from dialer.client import ViciClient, ViciLoginError, ViciTransportError
from dialer.errors import BAD_PASSWORD, LOGIN_FAILED, NO_PASSWORD
from dialer.models import ViciServer
from dialer.services.servers import server_assert_open


def server_set_password(*, server: ViciServer, password: str) -> None:
    server.api_password_encrypted = crypto.encrypt(password)
    server.save(update_fields=["api_password_encrypted", "updated_at"])


_PASSWORD = re.compile(r"[0-9A-Za-z]+")


def password_problem(password: str) -> str:
    """Why VICIdial could never accept this API password ("" when it can). VICIdial strips
    every character but ``[-_0-9a-zA-Z]`` from the password it receives, so a password with
    any other character fails every login, and ten failures lock the user for 15 minutes;
    VICIDIAL.md 1.2 asks for letters and digits only."""
    if not password:
        return "The password is empty."
    if not _PASSWORD.fullmatch(password):
        return (
            "VICIdial API passwords must be letters and digits only (A-Z, a-z, 0-9): "
            "VICIdial removes any other character, so the login could never succeed."
        )
    return ""


def server_password(server: ViciServer) -> str:
    """The server's API password. One read from the environment is checked like one typed
    into the admin form (never quoted back in the error)."""
    if server.api_password_env:
        value = os.environ.get(server.api_password_env)
        if value is None:
            raise ApplicationError(
                f"Environment variable {server.api_password_env} is not set.", code=NO_PASSWORD
            )
        if problem := password_problem(value):
            raise ApplicationError(
                f"Environment variable {server.api_password_env}: {problem}",
                code=BAD_PASSWORD,
            )
        return value
    if not server.api_password_encrypted:
        raise ApplicationError("This server has no API password.", code=NO_PASSWORD)
    try:
        return crypto.decrypt(server.api_password_encrypted)
    except crypto.DecryptError:
        raise ApplicationError(
            "The stored password cannot be decrypted (no key in FIELD_ENCRYPTION_KEY fits): "
            "set it again.",
            code=NO_PASSWORD,
        )


def client_for(server: ViciServer, *, resuming: bool = False) -> ViciClient:
    """The API client of ``server``. Refuses (``ServerPausedError``, code ``server_paused``)
    a server that is inactive or paused as stored now, so no caller can reach a paused
    server; only ``server_resume`` passes ``resuming`` to check the login first."""
    server_assert_open(server_id=server.pk, resuming=resuming)
    return ViciClient(
        url=server.api_url,
        user=server.api_user,
        password=server_password(server),
        source=server.source,
        timeout=server.timeout_seconds,
        pool_size=max(1, server.max_concurrency),
    )


def server_resume(*, server: ViciServer) -> str:
    """Lift the pause, after one authenticated call shows the login works now (a failed
    check costs one attempt of VICIdial's ten, and the server stays paused). Returns a note
    for the person who resumed it."""
    note = "Resumed: the login works."
    if server.is_active:
        try:
            client_for(server, resuming=True).login_check()
        except ViciLoginError as exc:
            ViciServer.objects.filter(pk=server.pk).update(
                paused_reason=exc.message[:500], last_error=exc.message
            )
            raise ApplicationError(
                f"Still paused: VICIdial refused the login ({exc.message[:200]}).",
                code=LOGIN_FAILED,
            ) from exc
        except ViciTransportError as exc:
            note = f"Resumed without a login check: {exc.message}."
    else:
        note = "Resumed (the server is inactive: nothing is sent until it is active)."
    ViciServer.objects.filter(pk=server.pk).update(paused_until=None, paused_reason="")
    return note
