"""Validation and normalization of incoming lead rows (fast: no DRF per row).

``normalize_row`` returns ``(clean, errors)``; a row with errors is never stored.
The dedupe key of a person is the E.164 phone when there is one, else the email.
"""

import hashlib
import json
import re
from functools import lru_cache
from ipaddress import ip_address
from typing import Any

import phonenumbers
from django.conf import settings
from django.utils.dateparse import parse_datetime

from core.locks import lock_key as core_lock_key
from core.timezones import storable_datetime, valid_timezones
from leads import fields as lead_fields
from leads.models import Lead

STRING_FIELDS: dict[str, int] = {
    name: int(getattr(Lead._meta.get_field(name), "max_length", 0) or 0)
    for name in lead_fields.TEXT
}
ALL_FIELDS = {*STRING_FIELDS, "phone", "email", "custom", "consent"}
CONSENT_FIELDS = {"at", "text", "url", "ip"}
MAX_CUSTOM_BYTES = 16 * 1024
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL_RE = re.compile(r"^https?://\S+$", re.IGNORECASE)


def storable(value: str) -> bool:
    """PostgreSQL text cannot hold NUL, and UTF-8 cannot hold lone surrogates."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# North American numbers in their usual spellings: +1 212 555 0142, (212) 555-0142,
# 212.555.0142, 12125550142. Most leads look like this, and phonenumbers' full parse and
# validation of a +1 number (it tries every NANP country in turn) is the slowest part of
# intake; this path does the same check against the one region its area code belongs to.
NANP_RE = re.compile(r"^(?:\+?1[\s.\-]?)?\(?([2-9]\d{2})\)?[\s.\-]?(\d{3})[\s.\-]?(\d{4})$")
NANP_REGIONS = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])


@lru_cache(maxsize=2048)
def _nanp_region(area_code: str) -> str | None:
    number = phonenumbers.PhoneNumber(country_code=1, national_number=int(area_code + "5550123"))
    return phonenumbers.region_code_for_number(number)


def _nanp_fast(value: str, region: str) -> str:
    """E.164 of a valid North American number, or '' to take the full path."""
    if region not in NANP_REGIONS and not value.startswith("+1"):
        return ""
    match = NANP_RE.match(value)
    if match is None:
        return ""
    digits = "".join(match.groups())
    owner = _nanp_region(digits[:3])
    if owner is None:
        return ""
    number = phonenumbers.PhoneNumber(country_code=1, national_number=int(digits))
    return "+1" + digits if phonenumbers.is_valid_number_for_region(number, owner) else ""


def normalize_phone(value: Any, region: str | None = None) -> str:
    """E.164 or ValueError with a message for the user."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("Must be a string.")
    value = value.strip()
    if not value:
        return ""
    region = region or settings.PHONE_DEFAULT_REGION
    fast = _nanp_fast(value, region)
    if fast:
        return fast
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValueError("Not a phone number.")
    if not phonenumbers.is_valid_number(number):
        raise ValueError("Not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: Any) -> str:
    if not isinstance(value, str) or not storable(value):
        raise ValueError("Must be a string of storable characters.")
    value = value.strip().lower()
    if not value:
        return ""
    if len(value) > 254 or not EMAIL_RE.match(value):
        raise ValueError("Enter a valid email address.")
    return value


def dedupe_hash(phone: str, email: str) -> str:
    key = f"p:{phone}" if phone else f"e:{email}"
    return hashlib.sha256(key.encode()).hexdigest()


def _consent(value: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        errors["consent"] = ["Must be an object with at, text, url, ip."]
        return {}
    unknown = set(value) - CONSENT_FIELDS
    if unknown:
        errors["consent"] = [f"Unknown consent field(s): {', '.join(sorted(unknown))}."]
        return {}
    clean: dict[str, Any] = {}
    problems = []
    if value.get("at"):
        at = value["at"]
        try:
            parsed = parse_datetime(at) if isinstance(at, str) else None
        except ValueError:  # well-formed but impossible (month 13, offset +99:00)
            parsed = None
        if parsed is None:
            problems.append("at: must be an ISO 8601 date-time.")
        else:
            try:
                clean["consent_at"] = storable_datetime(parsed)
            except ValueError as exc:
                problems.append(f"at: {exc}")
    if value.get("text") is not None:
        if not isinstance(value["text"], str) or not storable(value["text"]):
            problems.append("text: must be a string.")
        else:
            clean["consent_text"] = value["text"][:5000]
    if value.get("url"):
        url = value["url"]
        if not isinstance(url, str) or not URL_RE.match(url) or len(url) > 500:
            problems.append("url: must be an http(s) URL.")
        else:
            clean["consent_url"] = url
    if value.get("ip"):
        try:
            clean["consent_ip"] = str(ip_address(str(value["ip"]).strip()))
        except ValueError:
            problems.append("ip: must be an IPv4 or IPv6 address.")
    if problems:
        errors["consent"] = problems
    return clean


def normalize_row(
    row: Any, *, partial: bool = False
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate one incoming lead. ``partial`` is for PATCH (no required fields)."""
    if not isinstance(row, dict):
        return {}, {"non_field_errors": ["Each lead must be a JSON object."]}
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name in sorted(set(row) - ALL_FIELDS):
        errors[name] = ["Unknown field."]
    for name, max_length in STRING_FIELDS.items():
        if name not in row:
            continue
        value = row[name]
        if value is None:
            value = ""
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            errors[name] = ["Must be a string."]
            continue
        value = value.strip()
        if not storable(value):
            errors[name] = ["Contains characters that cannot be stored (NUL or broken UTF-8)."]
            continue
        if len(value) > max_length:
            errors[name] = [f"Ensure this field has no more than {max_length} characters."]
            continue
        clean[name] = value
    if clean.get("timezone") and clean["timezone"] not in valid_timezones():
        errors["timezone"] = ["Unknown time zone (use an IANA name like America/New_York)."]
    if "phone" in row and row["phone"] is not None:
        try:
            clean["phone"] = normalize_phone(row["phone"])
        except ValueError as exc:
            errors["phone"] = [str(exc)]
    if "email" in row and row["email"] is not None:
        try:
            clean["email"] = normalize_email(row["email"])
        except ValueError as exc:
            errors["email"] = [str(exc)]
    if "custom" in row and row["custom"] is not None:
        custom = row["custom"]
        if not isinstance(custom, dict):
            errors["custom"] = ["Must be a JSON object."]
        elif not storable(encoded := json.dumps(custom, default=str, ensure_ascii=False)) or (
            "\\u0000" in encoded
        ):
            errors["custom"] = ["Contains characters that cannot be stored (NUL or broken UTF-8)."]
        elif len(encoded) > MAX_CUSTOM_BYTES:
            errors["custom"] = [f"Must be at most {MAX_CUSTOM_BYTES} bytes of JSON."]
        else:
            clean["custom"] = custom
    if "consent" in row:
        clean.update(_consent(row["consent"], errors))
    if not partial and not clean.get("phone") and not clean.get("email"):
        if "phone" not in errors and "email" not in errors:
            errors["non_field_errors"] = ["A lead needs a phone or an email."]
    if errors:
        return {}, errors
    return clean, {}


def lock_key(workspace_id: int, hash_hex: str) -> int:
    """The advisory lock key for one person in one workspace."""
    return core_lock_key(workspace_id, hash_hex)
