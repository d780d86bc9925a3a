"""VICIdial's Non-Agent API wire format: typed answers and errors, and the exact parsing of
its plain-text lines (``SUCCESS:``, ``NOTICE:``, ``ERROR:`` or raw data rows)."""

import re
from dataclasses import dataclass, field

from core.errors import ClientError

# --- typed answers and errors -------------------------------------------------------------


class ViciError(ClientError):
    """VICIdial answered with an ERROR line."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        raw: str = "",
        fields: list[str] | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable, raw=raw)
        self.fields = fields or []


class ViciLoginError(ViciError):
    """Bad user/password/level. Never retry blindly: 10 of these lock the user for 15 min."""


class ViciLockedError(ViciLoginError):
    """The API user is locked (too many bad logins)."""


class ViciDncError(ViciError):
    """The phone is on a DNC list: a final answer."""


class ViciNotFoundError(ViciError):
    pass


class ViciPermissionError(ViciError):
    """The API user may not use this function (user level, ``modify_leads``/``modify_lists``,
    ``api_allowed_functions``): only a VICIdial admin can fix it."""


class ViciListMissingError(ViciError):
    """``list_exists_check=Y`` and the list is not defined in VICIdial: a final answer."""


class ViciTransportError(ClientError):
    """Timeout, refused connection, HTTP 5xx: retryable."""

    def __init__(self, message: str, raw: str = "") -> None:
        super().__init__(message, retryable=True, raw=raw)


@dataclass
class AddLeadResult:
    lead_id: int
    list_id: int
    duplicate: bool = False  # the phone was already there: lead_id is the existing lead
    duplicate_kind: str = ""
    notices: list[str] = field(default_factory=list)
    raw: str = ""


# add_dnc_phone's campaign_id for the system-wide DNC list (vicidial_dnc).
SYSTEM_DNC = "SYSTEM_INTERNAL"


@dataclass
class DncResult:
    phone_number: str
    campaign_id: str
    added: bool  # False: it was already on that DNC list
    raw: str = ""


@dataclass
class UpdateLeadResult:
    lead_ids: list[int]
    changed: int
    raw: str = ""


@dataclass
class ListInfo:
    list_id: int
    name: str
    campaign_id: str
    active: bool
    raw: str = ""


@dataclass
class PhoneLogRow:
    phone_number: str
    call_date: str
    list_id: int
    length_in_sec: int
    lead_status: str
    hangup_reason: str
    call_status: str
    source_id: str
    user: str


_LINE = re.compile(r"^(SUCCESS|ERROR|NOTICE): (?:([a-z][a-z_]*) )?(.*?)(?: - (.*)|: \|(.*)\|?)?$")
DUPLICATE_REASON = re.compile(
    r"DUPLICATE (?:PHONE NUMBER|TITLE ALT_PHONE|NAME PHONE) IN "
    r"(LIST|CAMPAIGN LISTS|SYSTEM)"
)


@dataclass
class Line:
    kind: str
    function: str
    reason: str
    fields: list[str]
    text: str


def parse_lines(body: str) -> list[Line]:
    lines = []
    for text in body.splitlines():
        text = text.rstrip("\r")
        match = _LINE.match(text)
        if not match:
            lines.append(Line("DATA", "", "", text.split("|"), text))
            continue
        kind, function, reason, dash_data, pipe_data = match.groups()
        data = dash_data if dash_data is not None else (pipe_data or "")
        lines.append(Line(kind, function or "", reason.strip(), data.split("|"), text))
    return lines


def raise_for_errors(lines: list[Line], raw: str) -> None:
    for line in lines:
        if line.kind != "ERROR":
            continue
        reason = line.reason
        if reason.startswith("Too many login attempts"):
            raise ViciLockedError(line.text, raw=raw, fields=line.fields)
        if reason.startswith("Login incorrect") or reason.startswith("Your IP Address"):
            raise ViciLoginError(line.text, raw=raw, fields=line.fields)
        if "DOES NOT HAVE PERMISSION" in reason:
            raise ViciPermissionError(line.text, raw=raw, fields=line.fields)
        if "NOT A DEFINED LIST ID" in reason:
            raise ViciListMissingError(line.text, raw=raw, fields=line.fields)
        if "IN DNC" in reason or "IN CAMPAIGN DNC" in reason:
            raise ViciDncError(line.text, raw=raw, fields=line.fields)
        if "NO MATCHES FOUND" in reason or "DOES NOT EXIST" in reason:
            raise ViciNotFoundError(line.text, raw=raw, fields=line.fields)
        raise ViciError(line.text, raw=raw, fields=line.fields)
