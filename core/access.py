"""Who may read the operational detail (/metrics, the full /health): a bearer token
(``METRICS_TOKEN``, compared in constant time) or a client address in ``METRICS_ALLOWED_IPS``.

The address is the socket's peer (``REMOTE_ADDR``), never a forwarded header a client can
write: behind a proxy, use the token (or list the proxy only if it is the scraper's path).
"""

import hmac
import ipaddress
from enum import Enum
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest


class Access(Enum):
    GRANTED = "granted"
    ANONYMOUS = "anonymous"  # no credentials: the liveness answer only
    DENIED = "denied"  # a token that does not match


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {exc}")


def presented_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.GET.get("token")


def client_ip(request: HttpRequest) -> str:
    """The client's address as Leadbrain trusts it: the socket's peer, not a header."""
    return str(request.META.get("REMOTE_ADDR", ""))


def ip_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(tuple(settings.METRICS_ALLOWED_IPS)))


def metrics_access(request: HttpRequest) -> Access:
    token = presented_token(request)
    expected = settings.METRICS_TOKEN
    if token is not None:
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return Access.GRANTED
        return Access.DENIED
    if ip_allowed(client_ip(request)):
        return Access.GRANTED
    return Access.ANONYMOUS
