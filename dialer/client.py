"""VICIdial Non-Agent API client (``non_agent_api.php``), exact to its wire format.

Every answer is HTTP 200 with plain-text lines (``SUCCESS:``, ``NOTICE:``, ``ERROR:`` or raw
data rows), so only the body tells success from failure. Inputs are sanitised here with
the API's own rules, so what we store equals what VICIdial stores.
"""

import re
from urllib.parse import quote_plus, urlencode, urlsplit

import phonenumbers
import urllib3
from urllib3.exceptions import MaxRetryError

from core.http import HttpPolicy, build_pool
from core.secrets import scrub, transport_error_text
from dialer.vici_wire import (
    DUPLICATE_REASON,
    SYSTEM_DNC,
    AddLeadResult,
    DncResult,
    Line,
    ListInfo,
    PhoneLogRow,
    UpdateLeadResult,
    ViciDncError,
    ViciError,
    ViciListMissingError,
    ViciLockedError,
    ViciLoginError,
    ViciNotFoundError,
    ViciPermissionError,
    ViciTransportError,
    parse_lines,
    raise_for_errors,
)

# The client's typed answers and errors (defined in vici_wire) are imported from here.
__all__ = [
    "AddLeadResult",
    "DUPLICATE_REASON",
    "DncResult",
    "Line",
    "ListInfo",
    "PhoneLogRow",
    "SYSTEM_DNC",
    "UpdateLeadResult",
    "VICI_LEAD_FIELDS",
    "ViciClient",
    "ViciDncError",
    "ViciError",
    "ViciListMissingError",
    "ViciLockedError",
    "ViciLoginError",
    "ViciNotFoundError",
    "ViciPermissionError",
    "ViciTransportError",
    "parse_lines",
    "raise_for_errors",
    "sanitise",
    "split_phone",
]

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# (characters removed, "+" becomes a space, max length) per field, after URL decoding.
_RULES: dict[str, tuple[str, bool, int]] = {
    "vendor_lead_code": (r'[;#"]', True, 20),
    "source_id": (r'[;#"]', True, 50),
    "comments": (r'[;#"]', True, 255),
    "first_name": (r"[^- '+_.0-9a-zA-Z]", True, 30),
    "last_name": (r"[^- '+_.0-9a-zA-Z]", True, 30),
    "address1": (r"[^- '+.:/@_0-9a-zA-Z]", True, 100),
    "city": (r"[^- '+.:/@_0-9a-zA-Z]", True, 50),
    "email": (r"[^- '+.:/@%_0-9a-zA-Z]", True, 70),
    "state": (r"[^- 0-9a-zA-Z]", False, 2),
    "postal_code": (r"[^- '+0-9a-zA-Z]", True, 10),
    "status": (r"[^-_0-9a-zA-Z]", False, 6),
}


# The fields of a VICIdial lead (``vicidial_list``) that Leadbrain fills from its own lead.
VICI_LEAD_FIELDS = frozenset({*_RULES, "phone"})


def sanitise(name: str, value: str) -> str:
    """The value VICIdial will store for ``name`` (characters removed, + as space, cut)."""
    rule = _RULES.get(name)
    if rule is None:
        return value
    pattern, plus_to_space, length = rule
    value = re.sub(pattern, "", value)
    if plus_to_space:
        value = value.replace("+", " ")
    return value[:length]


def split_phone(e164: str) -> tuple[str, str]:
    """E.164 -> (phone_code, national number) as VICIdial wants them."""
    number = phonenumbers.parse(e164, None)
    return str(number.country_code), str(number.national_number)


def _version_part(part: str) -> tuple[str, str]:
    """``"key: value"`` as (key, value); a bare ``"key:"`` has no value."""
    key, sep, value = part.partition(": ")
    return (key, value) if sep else (part.rstrip(":"), "")


class ViciClient:
    """One per server; thread-safe to share across a drain's worker threads."""

    def __init__(
        self,
        *,
        url: str,
        user: str,
        password: str,
        source: str,
        timeout: float = 10.0,
        pool_size: int = 10,
    ) -> None:
        self.url = url
        self.user = user
        self.password = password
        self.source = re.sub(r"[^0-9a-zA-Z]", "", source) or "leadbrain"
        # A bare keep-alive pool (timeouts, bounded connect retries): requests' own work per
        # call would cost more CPU than everything else a push does (bench/README.md).
        self.pool = build_pool(
            HttpPolicy(timeout=timeout, retries=1, pool_size=pool_size),
            url,
            user_agent="Leadbrain-ViciClient/1.0",
        )
        parts = urlsplit(url)
        self._target = parts.path + (f"?{parts.query}" if parts.query else "") or "/"
        self._login = urlencode({"user": user, "pass": password, "source": self.source})

    def scrub(self, text: str) -> str:
        """``text`` without any form of the password (VICIdial echoes it in login errors,
        stripped to ``[-_0-9a-zA-Z]``): every string that leaves this client passes here."""
        return scrub(text, self.password)

    def call(self, function: str, **params: str | int) -> tuple[str, list[Line]]:
        """POST the call form-encoded (VICIdial reads a parameter from the query string
        first, then from the POST body): the password never sits in a URL, so no exception
        text or log line of the HTTP library (urllib3's retry warning prints the URL) can
        carry it."""
        fields = {k: str(v) for k, v in params.items() if v is not None and v != ""}
        body = f"function={quote_plus(function)}&{self._login}"
        if fields:
            body += "&" + urlencode(fields)
        try:
            response = self.pool.urlopen(
                "POST", self._target, body=body.encode(), headers=_FORM, preload_content=True
            )
        except urllib3.exceptions.HTTPError as exc:
            cause = exc.reason if isinstance(exc, MaxRetryError) and exc.reason else exc
            raise ViciTransportError(transport_error_text(cause, self.url)) from None
        text = response.data.decode("utf-8", errors="replace")
        if response.status != 200:
            raise ViciTransportError(
                f"HTTP {response.status} from VICIdial", raw=self.scrub(text[:2000])
            )
        raw = self.scrub(text)
        return raw, parse_lines(raw)

    # --- functions -----------------------------------------------------------------------

    def version(self) -> dict[str, str]:
        raw, _ = self.call("version")
        parts = [p for p in raw.strip().split("|") if p]
        return dict(_version_part(p) for p in parts)

    def login_check(self) -> None:
        """One authenticated call that changes nothing. VICIdial checks the login before it
        looks at the function, and answers a function it does not know with
        ``ERROR: NO FUNCTION SPECIFIED`` only once the login passed (VICIDIAL.md 1.2)."""
        raw, lines = self.call("leadbrainlogincheck")
        if any(ln.kind == "ERROR" and ln.reason == "NO FUNCTION SPECIFIED" for ln in lines):
            return
        raise_for_errors(lines, raw)
        raise ViciError(f"login check: unexpected answer {raw[:200]!r}", raw=raw, retryable=True)

    def add_lead(
        self,
        *,
        phone_number: str,
        phone_code: str,
        list_id: int,
        duplicate_check: str = "",
        add_to_hopper: bool = False,
        hopper_priority: int = 0,
        campaign_dnc: str = "",
        **fields: str,
    ) -> AddLeadResult:
        """Add a lead. VICIdial's system DNC list is always checked (``dnc_check=Y``), and
        the DNC list of the campaign ``campaign_dnc`` when one is given: a number on either
        is refused (``ViciDncError``), never added."""
        params = {name: sanitise(name, value) for name, value in fields.items() if value}
        raw, lines = self.call(
            "add_lead",
            phone_number=re.sub(r"\D", "", phone_number),
            phone_code=phone_code,
            list_id=list_id,
            # Without it VICIdial adds a lead to a list that does not exist (SUCCESS), where
            # no campaign ever dials it.
            list_exists_check="Y",
            dnc_check="Y",
            campaign_dnc_check="Y" if campaign_dnc else "",
            campaign_id=campaign_dnc,
            duplicate_check=duplicate_check,
            add_to_hopper="Y" if add_to_hopper else "N",
            hopper_priority=max(-99, min(99, hopper_priority)),
            **params,
        )
        for line in lines:
            if line.kind == "ERROR" and (dup := DUPLICATE_REASON.search(line.reason)):
                # phone|list|existing lead_id[|existing list]
                f = line.fields
                existing_list = int(f[3]) if len(f) > 3 and f[3].isdigit() else list_id
                return AddLeadResult(
                    lead_id=int(f[2]),
                    list_id=existing_list,
                    duplicate=True,
                    duplicate_kind=dup.group(1),
                    raw=raw,
                )
        raise_for_errors(lines, raw)
        for line in lines:
            if line.kind == "SUCCESS" and line.function == "add_lead":
                # DOC != CODE: phone|list_id|lead_id|gmt|user (lead_id is the 3rd field)
                return AddLeadResult(
                    lead_id=int(line.fields[2]),
                    list_id=int(line.fields[1]),
                    notices=[n.text for n in lines if n.kind == "NOTICE"],
                    raw=raw,
                )
        raise ViciError(f"add_lead: unexpected answer {raw[:200]!r}", raw=raw, retryable=True)

    def add_dnc_phone(self, *, phone_number: str, campaign_id: str = SYSTEM_DNC) -> DncResult:
        """Put a number on VICIdial's DNC list: the system-wide one (``SYSTEM_INTERNAL``,
        table ``vicidial_dnc``) or a campaign's. A number already there is not an error here.
        Needs an API user of level 8+ with ``modify_lists=1`` (non_agent_api.php)."""
        number = re.sub(r"\D", "", phone_number)
        raw, lines = self.call("add_dnc_phone", phone_number=number, campaign_id=campaign_id)
        for line in lines:
            if line.kind == "ERROR" and line.reason == "DNC NUMBER ALREADY EXISTS":
                return DncResult(phone_number=number, campaign_id=campaign_id, added=False, raw=raw)
        raise_for_errors(lines, raw)
        if any(ln.kind == "SUCCESS" and ln.function == "add_dnc_phone" for ln in lines):
            return DncResult(phone_number=number, campaign_id=campaign_id, added=True, raw=raw)
        raise ViciError(f"add_dnc_phone: unexpected answer {raw[:200]!r}", raw=raw, retryable=True)

    def update_lead(
        self,
        *,
        lead_id: int | None = None,
        vendor_lead_code: str = "",
        list_id_field: int | None = None,
        **fields: str,
    ) -> UpdateLeadResult:
        method = "LEAD_ID" if lead_id else "VENDOR_LEAD_CODE"
        params = {name: sanitise(name, value) for name, value in fields.items() if value}
        raw, lines = self.call(
            "update_lead",
            search_method=method,
            lead_id=lead_id or "",
            vendor_lead_code=sanitise("vendor_lead_code", vendor_lead_code),
            list_id_field=list_id_field or "",
            list_exists_check="Y" if list_id_field else "",  # a move to a missing list fails
            **params,
        )
        raise_for_errors(lines, raw)
        updated = [ln for ln in lines if ln.kind == "SUCCESS" and ln.function == "update_lead"]
        if not updated:
            return UpdateLeadResult(lead_ids=[], changed=0, raw=raw)  # nothing to change
        ids = [int(ln.fields[1]) for ln in updated]  # user|lead_id|affected rows||
        changed = sum(int(ln.fields[2] or 0) for ln in updated)
        return UpdateLeadResult(lead_ids=ids, changed=changed, raw=raw)

    def batch_update_lead(self, *, lead_ids: list[int], **fields: str) -> UpdateLeadResult:
        params = {name: sanitise(name, value) for name, value in fields.items() if value}
        raw, lines = self.call(
            "batch_update_lead", lead_ids=",".join(str(i) for i in lead_ids), **params
        )
        raise_for_errors(lines, raw)
        for line in lines:
            if line.kind == "SUCCESS":
                # user|affected rows|found count|found ids
                ids = (
                    [int(i) for i in line.fields[3].split(",") if i] if len(line.fields) > 3 else []
                )
                return UpdateLeadResult(lead_ids=ids, changed=int(line.fields[1] or 0), raw=raw)
        return UpdateLeadResult(lead_ids=[], changed=0, raw=raw)

    def lead_search(self, *, phone_numbers: list[str]) -> dict[str, list[int]]:
        raw, lines = self.call(
            "lead_search", phone_number=",".join(re.sub(r"\D", "", p) for p in phone_numbers)
        )
        try:
            raise_for_errors(lines, raw)
        except ViciNotFoundError:
            return {re.sub(r"\D", "", p): [] for p in phone_numbers}
        result = {}
        for line in lines:
            if line.kind == "DATA" and len(line.fields) >= 3:
                result[line.fields[0]] = [int(i) for i in line.fields[2].split("-") if i]
        return result

    def list_info(self, *, list_id: int) -> ListInfo:
        raw, lines = self.call("list_info", list_id=list_id)
        raise_for_errors(lines, raw)
        f = next(ln.fields for ln in lines if ln.kind == "DATA")
        return ListInfo(list_id=int(f[0]), name=f[1], campaign_id=f[2], active=f[3] == "Y", raw=raw)

    def phone_number_log(
        self, *, phone_numbers: list[str], type_: str = "ALL"
    ) -> list[PhoneLogRow]:
        raw, lines = self.call(
            "phone_number_log",
            type=type_,
            phone_number=",".join(re.sub(r"\D", "", p) for p in phone_numbers),
        )
        raise_for_errors(lines, raw)
        rows = []
        for line in lines:
            if line.kind == "DATA" and len(line.fields) >= 9:
                f = line.fields
                rows.append(
                    PhoneLogRow(
                        f[0], f[1], int(f[2] or 0), int(f[3] or 0), f[4], f[5], f[6], f[7], f[8]
                    )
                )
        return rows
