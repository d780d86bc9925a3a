"""Links to outside systems (call recordings, consent certificates) are http(s) or nothing.

A ``javascript:`` or ``data:`` URL stored from partner or VICIdial input would run in a
staff member's session when clicked. Ingest calls ``http_url_or_empty`` (or the
``validate_http_url`` validator); templates render through the ``http_url`` filter
(``{% load safe_url %}``), so a bad value stored earlier is never a link either.
"""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from core.errors import INVALID_URL

SCHEMES = frozenset({"http", "https"})
MAX_LENGTH = 2000


def is_http_url(value: object) -> bool:
    """An absolute http(s) URL with a host, no whitespace or control characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_LENGTH:
        return False
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return False  # browsers drop tabs and newlines: "java\tscript:" is javascript:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in SCHEMES and bool(parts.hostname)


def http_url_or_empty(value: object) -> str:
    """``value`` stripped if it is an http(s) URL, else ``""`` (store that, keep the call)."""
    text = value.strip() if isinstance(value, str) else ""
    return text if is_http_url(text) else ""


def validate_http_url(value: str) -> None:
    """A model/form field validator: only http(s) URLs."""
    if value and not is_http_url(value):
        raise ValidationError("Enter an http:// or https:// URL.", code=INVALID_URL)
