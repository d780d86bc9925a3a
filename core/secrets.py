"""Secrets pass one scrubber: anything stored or logged from an outside system (errors, raw
responses, URLs) goes through ``scrub`` first, and transport errors are kept as their type
and host only (``requests`` puts the whole URL, query string and password included, into
the exception text)."""

import re
from urllib.parse import quote, quote_plus, urlsplit

MASK = "********"
# VICIdial echoes a bad password stripped to these characters (VICIDIAL.md 3b).
_VICI_KEPT = re.compile(r"[^-_0-9a-zA-Z]")
_MIN_FORM = 4  # a stripped form shorter than this would mask ordinary words


def secret_forms(secret: str) -> set[str]:
    """Every form in which ``secret`` can come back: raw, URL-encoded (both ways) and
    stripped to VICIdial's ``[-_0-9a-zA-Z]``."""
    if not secret:
        return set()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
    stripped = _VICI_KEPT.sub("", secret)
    if len(stripped) >= _MIN_FORM:
        forms.add(stripped)
    return {form for form in forms if form}


def scrub(text: str, *secrets: str) -> str:
    """``text`` with every form of every secret masked (longest forms first)."""
    if not text:
        return text
    forms = set().union(*(secret_forms(s) for s in secrets if s))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def transport_error_text(exc: BaseException, url: str) -> str:
    """A network failure as its type and host only: never the URL or its query string."""
    host = urlsplit(url).hostname or "the server"
    return f"{type(exc).__name__} talking to {host}"


# Query parameters whose values are secrets: token=, pass=, key= and their relatives
# (api_key, access_token, webhook_secret, password, signature...), in any case.
_SECRET_PARAM = re.compile(
    r"(?i)((?:^|[?&;])(?:[^=&;\s]*[_.-])?"
    r"(?:token|pass|password|passwd|pwd|key|apikey|secret|signature|sig|auth)=)"
    r"[^&;\s\"]*"
)


def mask_query_secrets(text: str) -> str:
    """``text`` (a URL, a request line, a query string) with the values of secret-looking
    query parameters masked: for access logs, which would otherwise print the call-URL
    token, the gateway's ``?token=`` fallback or the metrics token."""
    if not text or "=" not in text:
        return text
    return _SECRET_PARAM.sub(lambda m: m.group(1) + MASK, text)
