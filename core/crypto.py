"""Stored secrets (VICIdial API passwords, ...) are encrypted with Fernet keys of their own,
never with SECRET_KEY, and the keys rotate.

``FIELD_ENCRYPTION_KEY`` is a comma-separated list: the first key encrypts, every key
decrypts (``MultiFernet``), and ``manage.py reencrypt_secrets`` rewrites every stored
secret with the first key, after which older keys can be dropped. An entry that is not a
Fernet key is read the old way (the key was the SHA-256 of that string: how secrets were
encrypted before, from FIELD_ENCRYPTION_KEY or SECRET_KEY), so existing data stays
readable: put the old string after a new key, run the command, then remove it.

With DEBUG on and no FIELD_ENCRYPTION_KEY, the key is derived from SECRET_KEY (development
only); with DEBUG off, settings refuse to load without real keys (``check_production``).
"""

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# SECRET_KEY values that are published (settings' development default, .env.example,
# docker-compose and Dockerfile placeholders): never acceptable with DEBUG off.
PUBLISHED_SECRET_KEYS = frozenset(
    {
        "dev-insecure-leadbrain-secret-key-change-me-in-production-0123456789",
        "change-me-to-50-random-characters",
        "change-me",
        "build",
    }
)
MIN_SECRET_KEY_LENGTH = 50
GENERATE_KEY = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


class DecryptError(ValueError):
    """No configured key decrypts this value (the key changed or was dropped too early)."""


def key_entries(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def _fernet_or_none(entry: str) -> Fernet | None:
    try:
        return Fernet(entry.encode())
    except (ValueError, binascii.Error):
        return None


def _derived(secret: str) -> Fernet:
    """The old derivation: the Fernet key is the SHA-256 of a string."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


@lru_cache(maxsize=8)
def _multi(field_key: str, secret_key: str) -> MultiFernet:
    entries = key_entries(field_key) or [secret_key]
    primary = [_fernet_or_none(e) or _derived(e) for e in entries]
    # Secrets written before rotation existed used the SHA-256 of the entry even when it
    # was a real Fernet key: those stay readable until reencrypt_secrets has run.
    older = [_derived(e) for e in entries if _fernet_or_none(e) is not None]
    return MultiFernet(primary + older)


def multi_fernet() -> MultiFernet:
    return _multi(settings.FIELD_ENCRYPTION_KEY, settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return multi_fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return multi_fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptError("No key in FIELD_ENCRYPTION_KEY decrypts this value.")


def rotate(token: str) -> str:
    """The same secret encrypted with the current (first) key."""
    try:
        return multi_fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptError("No key in FIELD_ENCRYPTION_KEY decrypts this value.")


# --- rotation of every stored secret --------------------------------------------------------


@dataclass
class RotationResult:
    rotated: int = 0
    unreadable: int = 0  # no configured key decrypts them: left as they are


# Apps register the services that re-encrypt their own tables (name -> service).
ROTATIONS: dict[str, Callable[[], RotationResult]] = {}


def register_rotation(name: str, service: Callable[[], RotationResult]) -> None:
    ROTATIONS[name] = service


# --- start-up checks (config/settings.py) ---------------------------------------------------


def secret_key_problem(secret_key: str) -> str:
    if not secret_key:
        return "SECRET_KEY is empty."
    if secret_key in PUBLISHED_SECRET_KEYS or secret_key.startswith("django-insecure-"):
        return "SECRET_KEY is a published example value."
    if len(secret_key) < MIN_SECRET_KEY_LENGTH or len(set(secret_key)) < 5:
        return f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} random characters."
    return ""


def field_key_problem(field_key: str) -> str:
    entries = key_entries(field_key)
    if not entries:
        return "FIELD_ENCRYPTION_KEY is not set."
    if _fernet_or_none(entries[0]) is None:
        return "The first FIELD_ENCRYPTION_KEY entry must be a Fernet key."
    return ""


def check_production(*, debug: bool, secret_key: str, field_key: str) -> None:
    """With DEBUG off, refuse to start on a missing, short or published SECRET_KEY or
    without a Fernet FIELD_ENCRYPTION_KEY."""
    if debug:
        return
    problems = [p for p in (secret_key_problem(secret_key), field_key_problem(field_key)) if p]
    if problems:
        raise ImproperlyConfigured(
            " ".join(problems)
            + " Production needs SECRET_KEY (50+ random characters) and FIELD_ENCRYPTION_KEY"
            f" (comma-separated Fernet keys, the current first; make one with {GENERATE_KEY})."
            " For development set DEBUG=true, or run `make dev-keys` (writes .run/dev-keys)."
        )
