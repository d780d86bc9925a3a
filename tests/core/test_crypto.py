"""Stored secrets: their own Fernet keys, rotation, and settings that refuse to start with
DEBUG off on a published, empty or short SECRET_KEY or without FIELD_ENCRYPTION_KEY."""

import base64
import hashlib
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from core import crypto
from dialer.models import ViciServer
from dialer.services import server_password, server_set_password

ROOT = Path(__file__).resolve().parents[2]
KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
GOOD_SECRET = secrets.token_urlsafe(48)


def test_encrypt_and_decrypt(settings):
    settings.FIELD_ENCRYPTION_KEY = KEY_A
    token = crypto.encrypt("Secret123")
    assert "Secret123" not in token
    assert crypto.decrypt(token) == "Secret123"
    assert Fernet(KEY_A.encode()).decrypt(token.encode()) == b"Secret123"


def test_the_first_key_encrypts_and_every_key_decrypts(settings):
    settings.FIELD_ENCRYPTION_KEY = KEY_A
    old = crypto.encrypt("Secret123")
    settings.FIELD_ENCRYPTION_KEY = f"{KEY_B}, {KEY_A}"
    assert crypto.decrypt(old) == "Secret123"
    new = crypto.rotate(old)
    settings.FIELD_ENCRYPTION_KEY = KEY_B
    assert crypto.decrypt(new) == "Secret123"
    with pytest.raises(crypto.DecryptError):
        crypto.decrypt(old)


def test_secrets_written_the_old_way_stay_readable(settings):
    """Before: the key was the SHA-256 of FIELD_ENCRYPTION_KEY, or of SECRET_KEY."""
    old_secret_key = "an-old-production-secret-key-" + "x" * 30
    derived = base64.urlsafe_b64encode(hashlib.sha256(old_secret_key.encode()).digest())
    legacy = Fernet(derived).encrypt(b"Secret123").decode()
    settings.FIELD_ENCRYPTION_KEY = f"{KEY_B},{old_secret_key}"
    assert crypto.decrypt(legacy) == "Secret123"
    hashed_fernet = base64.urlsafe_b64encode(hashlib.sha256(KEY_A.encode()).digest())
    settings.FIELD_ENCRYPTION_KEY = KEY_A  # was set to a Fernet key, but hashed before
    assert crypto.decrypt(Fernet(hashed_fernet).encrypt(b"pw").decode()) == "pw"


def test_debug_without_a_field_key_derives_from_secret_key(settings):
    settings.FIELD_ENCRYPTION_KEY = ""
    settings.SECRET_KEY = GOOD_SECRET
    derived = base64.urlsafe_b64encode(hashlib.sha256(GOOD_SECRET.encode()).digest())
    assert Fernet(derived).decrypt(crypto.encrypt("pw").encode()) == b"pw"


@pytest.mark.django_db
def test_reencrypt_secrets_moves_every_password_to_the_current_key(settings, capsys):
    settings.FIELD_ENCRYPTION_KEY = KEY_A
    server = ViciServer.objects.create(name="v1", api_url="http://127.0.0.1/x", api_user="u")
    server_set_password(server=server, password="Secret123")
    ViciServer.objects.create(name="v2", api_url="http://127.0.0.1/y", api_user="u")  # none
    settings.FIELD_ENCRYPTION_KEY = f"{KEY_B},{KEY_A}"
    call_command("reencrypt_secrets")
    assert "VICIdial API passwords: 1 re-encrypted" in capsys.readouterr().out
    settings.FIELD_ENCRYPTION_KEY = KEY_B  # the old key is gone
    server.refresh_from_db()
    assert server_password(server) == "Secret123"


@pytest.mark.django_db
def test_reencrypt_secrets_fails_loudly_on_what_no_key_reads(settings):
    settings.FIELD_ENCRYPTION_KEY = KEY_A
    server = ViciServer.objects.create(name="v1", api_url="http://127.0.0.1/x", api_user="u")
    server_set_password(server=server, password="Secret123")
    settings.FIELD_ENCRYPTION_KEY = KEY_B  # A dropped before the rotation
    with pytest.raises(CommandError, match="could not be decrypted"):
        call_command("reencrypt_secrets")
    server.refresh_from_db()
    settings.FIELD_ENCRYPTION_KEY = KEY_A
    assert server_password(server) == "Secret123"  # left as it was


@pytest.mark.parametrize(
    ("secret_key", "field_key", "problem"),
    [
        (
            "dev-insecure-leadbrain-secret-key-change-me-in-production-0123456789",
            KEY_A,
            "published",
        ),
        ("change-me", KEY_A, "published"),
        ("", KEY_A, "empty"),
        ("short-key", KEY_A, "at least 50"),
        ("a" * 60, KEY_A, "at least 50"),
        ("django-insecure-" + GOOD_SECRET, KEY_A, "published"),
        (GOOD_SECRET, "", "FIELD_ENCRYPTION_KEY is not set"),
        (GOOD_SECRET, GOOD_SECRET, "must be a Fernet key"),
    ],
    # Named by position: the keys are random per process, and parallel workers must
    # collect the same test ids.
    ids=lambda value: None if isinstance(value, str) and len(value) < 40 else "key",
)
def test_production_refuses_weak_keys(secret_key, field_key, problem):
    with pytest.raises(ImproperlyConfigured, match=problem):
        crypto.check_production(debug=False, secret_key=secret_key, field_key=field_key)
    crypto.check_production(debug=True, secret_key=secret_key, field_key=field_key)


def test_production_accepts_real_keys():
    crypto.check_production(debug=False, secret_key=GOOD_SECRET, field_key=f"{KEY_A},old-pass")


def run_django(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "DEBUG": "false", "ALLOWED_HOSTS": "leadbrain.example", **env}
    # The browser tests' conftest allows sync ORM calls beside Playwright's loop; a deployment
    # never sets it (check --deploy refuses it).
    environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def test_settings_refuse_to_load_with_the_default_key():
    result = run_django(
        "manage.py",
        "check",
        SECRET_KEY="dev-insecure-leadbrain-secret-key-change-me-in-production-0123456789",
        FIELD_ENCRYPTION_KEY=KEY_A,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is a published example value" in result.stderr


def test_check_deploy_with_real_keys_warns_only_about_the_proxys_https():
    result = run_django(
        "manage.py", "check", "--deploy", SECRET_KEY=GOOD_SECRET, FIELD_ENCRYPTION_KEY=KEY_A
    )
    assert result.returncode == 0, result.stderr
    reported = sorted(
        line.split("(")[1].split(")")[0] for line in result.stderr.splitlines() if "?: (" in line
    )
    assert reported == ["security.W004", "security.W008"]
