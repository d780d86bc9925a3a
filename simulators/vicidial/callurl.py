"""VICIdial's side of a call URL, for tests: fill a pasted URL the way VICIdial fills it per
kind, and send it over a raw socket the way its senders do (VICIDIAL.md 2.3-2.5; read in
``www/agc/vdc_db_query.php`` and ``bin/AST_send_URL.pl``).

* Start and Dispo: PHP ``file()``. Placeholders are replaced one variable at a time,
  case-insensitively; a value is ``urlencode(trim(value))`` or inserted raw per kind
  (``ENCODED_RAW``); the URL's fragment (from ``#``) is not sent; control characters
  become ``_`` (``php_url_parse_ex``); every other byte goes on the request line as it is.
* No-Agent: ``AST_send_URL.pl`` inserts every value raw, turns spaces into ``+`` and
  backslash-escapes ``&``, ``'`` and ``"`` for the shell that runs ``wget``; the shell
  removes those backslashes; ``wget`` drops the fragment and percent-encodes the bytes it
  deems unsafe (space, ``"<>\\^`{|}``, controls, non-ASCII, a ``%`` not before two hex
  digits), leaving everything else, ``&`` and ``=`` included, as it is.

A value VICIdial does not fill for a kind, or that the caller does not give, leaves its
``--A--name--B--`` placeholder in the URL, as VICIdial does.
"""

import re
import socket
from urllib.parse import quote_plus, urlsplit

# Per kind: variables inserted raw (the rest are urlencoded), and those never filled.
DISPO_RAW = {
    "lead_id",
    "uniqueid",
    "user",
    "campaign",
    "epoch",
    "talk_time",
    "talk_time_ms",
    "talk_time_min",
    "recording_filename",
    "recording_id",
    "term_reason",
    "group",
    "channel_group",
    "dialed_number",
    "dialed_label",
    "called_count",
}
UNFILLED = {
    "start": {"recording_filename", "term_reason"},
    "dispo": set(),
    "noagent": {"talk_time", "recording_filename", "term_reason", "epoch"},
}
PLACEHOLDER = re.compile(r"--A--([A-Za-z0-9_]+)--B--", re.IGNORECASE)
# Outside what this model of the shell covers (a glob such as the URL's "?" matches no file
# and stays as it is).
SHELL_SPECIAL = set(";|<>()$`\\\t\n")
WGET_UNSAFE = set(' "<>\\^`{|}\x7f')
HEX = "0123456789abcdefABCDEF"


def php_urlencode(value: str) -> str:
    """PHP ``urlencode(trim(value))``: letters, digits and ``-_.`` kept, space as ``+``."""
    return quote_plus(value.strip(" \t\n\r\x00\x0b"), safe="").replace("~", "%7E")


def fill(url: str, kind: str, values: dict[str, str]) -> str:
    """The URL VICIdial sends for a call with these values (its variables by name)."""
    url = re.sub(r"^VAR", "", url)

    def value(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        if name in UNFILLED[kind] or name not in values:
            return match.group(0)
        raw = values[name]
        if kind == "start":
            return "0" if name == "talk_time" else php_urlencode(raw)
        if kind == "dispo":
            return raw if name in DISPO_RAW else php_urlencode(raw)
        return raw  # noagent: everything raw

    url = PLACEHOLDER.sub(value, url)
    if kind == "noagent":
        url = _shell_word(url.replace(" ", "+").replace("&", "\\&"))
    return url


def _shell_word(url: str) -> str:
    """What /bin/sh passes to wget for the Perl-escaped, unquoted URL."""
    escaped = url.replace("'", "\\'").replace('"', '\\"')
    plain = re.sub(r"\\(.)", "", escaped)
    if SHELL_SPECIAL & set(plain):
        raise NotImplementedError("a shell metacharacter this model does not cover")
    return re.sub(r"\\(.)", r"\1", escaped)


def request_line_php(url: str) -> tuple[str, int, bytes]:
    """Host, port and request of PHP's ``file($url)``."""
    url = url.split("#", 1)[0]
    url = re.sub(r"[\x00-\x1f\x7f]", "_", url)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    head = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    return host, port, head.encode("utf-8")


def request_line_wget(url: str) -> tuple[str, int, bytes]:
    """Host, port and request of ``wget --no-check-certificate <url>``."""
    url = url.split("#", 1)[0]
    encoded = []
    data = url.encode("utf-8")
    for i, byte in enumerate(data):
        char = chr(byte)
        bad_percent = char == "%" and not (
            i + 2 < len(data) and chr(data[i + 1]) in HEX and chr(data[i + 2]) in HEX
        )
        if byte < 0x20 or byte >= 0x80 or char in WGET_UNSAFE or bad_percent:
            encoded.append(f"%{byte:02X}")
        else:
            encoded.append(char)
    parts = urlsplit("".join(encoded))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    head = (
        f"GET {target} HTTP/1.1\r\nUser-Agent: Wget/1.21.3\r\nAccept: */*\r\n"
        f"Accept-Encoding: identity\r\nHost: {host}:{port}\r\nConnection: Keep-Alive\r\n\r\n"
    )
    return host, port, head.encode("ascii")


def request_of(url: str, kind: str) -> tuple[str, int, bytes]:
    """The bytes VICIdial's sender of this kind puts on the wire for a filled URL."""
    return request_line_wget(url) if kind == "noagent" else request_line_php(url)


def send(host: str, port: int, request: bytes, timeout: float = 10.0) -> int:
    """Send one raw request, read the answer to its end; the HTTP status code."""
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    return int(status_line.split()[1])


def target_of(request: bytes) -> str:
    """The request target (path and query) of a raw request, as a WSGI server hands it
    over (bytes as latin-1)."""
    return request.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1")


def deliver(kind: str, url: str, timeout: float = 5.0) -> int:
    """Fill-then-send in one: put a filled URL on the wire as VICIdial's sender of ``kind``
    does, once (VICIdial never retries). The HTTP status, or 0 when nothing answered."""
    host, port, request = request_of(url, kind)
    try:
        return send(host, port, request, timeout=timeout)
    except (OSError, ValueError, IndexError):
        return 0
