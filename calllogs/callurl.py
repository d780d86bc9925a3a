"""VICIdial's call URLs on the wire: which variables each kind carries intact, and the
checks a request passes before it is stored (VICIDIAL.md 2.4, 2.5).

VICIdial fills a call URL's ``--A--name--B--`` placeholders per kind:

* Start (agent screen, PHP ``file()``): every value URL-encoded; ``dispo`` is the lead's
  status *before* the call, ``talk_time`` always 0.
* Dispo (agent screen, PHP ``file()``): ``vendor_lead_code``, ``list_id``,
  ``phone_number``, ``dispo`` and ``call_id`` encoded; ``lead_id``, ``uniqueid``,
  ``talk_time`` (numbers) raw; ``user``, ``campaign``, ``recording_filename`` and
  ``term_reason`` raw too: a space or a non-ASCII byte there breaks the request line
  (the call is lost: VICIdial never retries), an ``&`` or ``#`` truncates.
* No-Agent (``AST_send_URL.pl`` and ``wget``): every value raw (spaces as ``+``, ``&``
  splits); only numbers and VICIdial's own codes arrive intact.

So a URL carries only what arrives intact, the receiver reads only those variables for
its kind (whatever else an older URL still sends), and the agent, campaign, recording and
term reason come from the hourly sync.
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from calllogs.client import CallRecord, call_time_of

KINDS = ("start", "dispo", "noagent")
DEFAULT_KIND = "dispo"  # a URL without ``kind`` (hand-made integrations) reads as a Dispo URL
EARLIEST_CALL = 946684800  # 2000-01-01: a uniqueid's epoch is a call time after this

# The variables of each generated URL, in order (the admin shows these).
URL_VARIABLES = {
    "start": [
        "lead_id",
        "vendor_lead_code",
        "list_id",
        "phone_number",
        "call_id",
        "uniqueid",
        "user",
        "campaign",
    ],
    "dispo": [
        "lead_id",
        "vendor_lead_code",
        "list_id",
        "phone_number",
        "dispo",
        "talk_time",
        "call_id",
        "uniqueid",
    ],
    "noagent": ["lead_id", "list_id", "phone_number", "dispo", "call_id", "uniqueid"],
}
# What the admin says next to each URL.
URL_NOTES = {
    "start": "Start Call URL (campaign or in-group): a call reached an agent. VICIdial "
    "encodes every value; its dispo is the status before the call, so it is not asked for.",
    "dispo": "Dispo Call URL: the agent's disposition. VICIdial inserts the agent, campaign, "
    "recording and term reason raw (a space or an accent would lose the call): the hourly "
    "sync brings them.",
    "noagent": "No Agent Call URL (campaign, in-group or list): calls that never reached an "
    "agent. VICIdial inserts every value raw: only numbers and its status codes are asked for.",
}
# What the receiver reads per kind: a field and the variable names VICIdial fills the same
# way for it (aliases). A Start URL's ``dispo`` (the status before the call) and every raw
# text variable are never read.
READ = {
    "start": {
        "lead_id": ("lead_id",),
        "vendor_lead_code": ("vendor_lead_code", "vendor_id"),
        "list_id": ("list_id",),
        "phone_number": ("phone_number", "phone"),
        "call_id": ("call_id",),
        "uniqueid": ("uniqueid",),
        "user": ("user",),
        "campaign": ("campaign", "group", "channel_group"),
    },
    "dispo": {
        "lead_id": ("lead_id",),
        "vendor_lead_code": ("vendor_lead_code", "vendor_id"),
        "list_id": ("list_id",),
        "phone_number": ("phone_number", "phone"),
        "dispo": ("dispo",),
        "talk_time": ("talk_time",),
        "call_id": ("call_id",),
        "uniqueid": ("uniqueid",),
    },
    "noagent": {
        "lead_id": ("lead_id",),
        "list_id": ("list_id",),
        "phone_number": ("phone_number", "phone"),
        "dispo": ("dispo", "status"),
        "call_id": ("call_id",),
        "uniqueid": ("uniqueid",),
    },
}

# Field -> (pattern of a valid value, what it must be). ASCII digits only: "²" or "١" are
# digits to str.isdigit() and not to int() or PostgreSQL.
CHECKS: dict[str, tuple[re.Pattern[str], str]] = {
    "uniqueid": (re.compile(r"[0-9]{9,11}\.[0-9]{1,20}"), "an Asterisk uniqueid (<epoch>.<n>)"),
    "lead_id": (re.compile(r"[0-9]{1,10}"), "a VICIdial lead id (up to 10 digits)"),
    "list_id": (re.compile(r"[0-9]{1,14}"), "a VICIdial list id (up to 14 digits)"),
    "phone_number": (re.compile(r"[0-9]{1,20}"), "a phone number (up to 20 digits)"),
    "dispo": (re.compile(r"[\w-]{1,6}"), "a VICIdial status (1-6 letters or digits)"),
    "call_id": (re.compile(r"[A-Za-z0-9_.-]{1,40}"), "a VICIdial call id (up to 40 characters)"),
    "talk_time": (re.compile(r"[0-9]{1,9}"), "seconds (0 to 999999999)"),
    "vendor_lead_code": (re.compile(r"[^\x00-\x1f\x7f]{1,100}"), "up to 100 characters"),
    "user": (re.compile(r"[^\x00-\x1f\x7f]{1,20}"), "up to 20 characters"),
    "campaign": (re.compile(r"[^\x00-\x1f\x7f]{1,20}"), "up to 20 characters"),
}


@dataclass
class CallUrlError(Exception):
    """The request is not a call URL that VICIdial could have sent: a 400."""

    message: str
    errors: dict[str, list[str]] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


def has_nul(pairs: list[tuple[str, str]]) -> bool:
    """A NUL byte anywhere (PostgreSQL stores none, VICIdial sends none)."""
    return any("\x00" in name or "\x00" in value for name, value in pairs)


def unfilled(value: str) -> bool:
    """A placeholder VICIdial left as it was (``--A--x--B--``): no value."""
    return value.startswith("--A--") and value.endswith("--B--")


def call_url_fields(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The fields of a call-URL request that its kind carries intact, checked: canonical
    names, trimmed, empty and unfilled values left out, ``kind`` first.

    Raises ``CallUrlError`` (field errors) for a value VICIdial cannot have sent. Applying
    it again to its own result gives the same result (the stored event is its output).
    """
    given: dict[str, list[str]] = {}
    for name, value in pairs:
        given.setdefault(name, []).append(value.strip())
    kind = (given.get("kind") or [DEFAULT_KIND])[0] or DEFAULT_KIND
    if kind not in KINDS:
        raise CallUrlError("Unknown call URL kind.", {"kind": [f"one of {', '.join(KINDS)}"]})
    fields = {"kind": kind}
    errors: dict[str, list[str]] = {}
    for name, aliases in READ[kind].items():
        values = {v for alias in aliases for v in given.get(alias, []) if v and not unfilled(v)}
        if not values:
            continue
        if len(values) > 1:
            errors[name] = ["given more than once with different values"]
            continue
        [value] = values
        pattern, wanted = CHECKS[name]
        if not pattern.fullmatch(value):
            errors[name] = [f"must be {wanted}"]
            continue
        fields[name] = value
    if "uniqueid" in fields and not _plausible(fields["uniqueid"]):
        errors["uniqueid"] = ["its time (the epoch before the dot) is not a plausible call time"]
    if "uniqueid" not in fields and "uniqueid" not in errors:
        errors["uniqueid"] = ["required"]
    if errors:
        raise CallUrlError("Invalid call URL.", errors)
    return fields


def _plausible(uniqueid: str) -> bool:
    latest = timezone.now() + timedelta(days=1)
    return EARLIEST_CALL <= int(uniqueid.split(".", 1)[0]) <= latest.timestamp()


def call_url_record(fields: dict[str, str]) -> CallRecord:
    """The call a checked request tells about (``call_url_fields``' result)."""
    uniqueid = fields["uniqueid"]
    call_id = fields.get("call_id", "")

    def number(name: str) -> int | None:
        return int(fields[name]) if name in fields else None

    return CallRecord(
        uniqueid=uniqueid,
        call_time=call_time_of(uniqueid),
        vendor_lead_code=fields.get("vendor_lead_code", ""),
        vici_lead_id=number("lead_id"),
        phone=fields.get("phone_number", ""),
        list_id=number("list_id"),
        campaign=fields.get("campaign", ""),
        agent=fields.get("user", ""),
        status=fields.get("dispo", ""),
        talk_seconds=number("talk_time") or 0,
        call_id=call_id,
        direction="in" if call_id.startswith("Y") else "out",
    )


def call_url(*, base_url: str, server_id: int, token: str, kind: str) -> str:
    """The exact call URL to paste into a campaign's Start/Dispo/No-Agent URL field."""
    query = "&".join(f"{v}=--A--{v}--B--" for v in URL_VARIABLES[kind])
    return (
        f"VAR{base_url.rstrip('/')}/webhooks/vici/call/?server={server_id}"
        f"&token={token}&kind={kind}&{query}"
    )
