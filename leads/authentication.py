"""``Authorization: Api-Key <key>``: the request's user is the key's workspace principal."""

import time
from dataclasses import dataclass

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from leads.models import ApiKey, Workspace


@dataclass
class WorkspacePrincipal:
    """What ``request.user`` is for an API key: it can only see its own workspace."""

    workspace: Workspace
    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False
    is_api_key = True

    @property
    def is_staff(self) -> bool:
        return self.api_key.is_staff

    @property
    def is_manager(self) -> bool:
        """A manager key: it may configure its workspace (``core.api.ConfigPermission``)."""
        return self.api_key.is_manager

    @property
    def pk(self) -> str:
        return f"apikey:{self.api_key.pk}"


# Checked keys, per process: SHA-256 of the key -> (checked at, key with its workspace).
# A revoked key stops working at once in the revoking process, within KEY_CACHE_SECONDS in
# the others.
_checked: dict[str, tuple[float, ApiKey]] = {}
KEY_CACHE_SECONDS = 30.0


def forget_checked_keys() -> None:
    _checked.clear()


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(self.keyword + " "):
            return None
        raw = header[len(self.keyword) + 1 :].strip()
        parts = raw.split("_")
        if len(parts) < 3 or parts[0] != "lb":
            raise exceptions.AuthenticationFailed("Invalid API key.")
        hashed = ApiKey.hash(raw)
        hit = _checked.get(hashed)
        key: ApiKey | None
        if hit and time.monotonic() - hit[0] < KEY_CACHE_SECONDS:
            key = hit[1]
        else:
            key = (
                ApiKey.objects.select_related("workspace")
                .filter(prefix=parts[1], revoked_at__isnull=True)
                .first()
            )
            if key is None or key.hashed_key != hashed or not key.workspace.is_active:
                _checked.pop(hashed, None)
                raise exceptions.AuthenticationFailed("Invalid API key.")
            if len(_checked) > 10_000:
                _checked.clear()
            _checked[hashed] = (time.monotonic(), key)
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return WorkspacePrincipal(workspace=key.workspace, api_key=key), key

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Shows ``Authorization: Api-Key <key>`` in the OpenAPI schema and Swagger UI."""

    target_class = "leads.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>` (manage.py create_api_key SLUG)",
        }
