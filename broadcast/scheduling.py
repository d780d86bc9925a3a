"""Time arithmetic of sequences: recipients' time zones and their send windows."""

import functools
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import phonenumbers
from phonenumbers import timezone as phone_timezone

from core.timezones import valid_timezones


@functools.lru_cache(maxsize=4096)
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


@functools.lru_cache(maxsize=65536)
def _zone_for_prefix(prefix: str) -> str:
    """The time zone of a phone prefix (+CC and area code); '' when the zones disagree."""
    try:
        number = phonenumbers.parse(prefix + "0" * max(0, 12 - len(prefix)), None)
    except phonenumbers.NumberParseException:
        return ""
    zones = [
        z
        for z in phone_timezone.time_zones_for_geographical_number(number)
        if z in valid_timezones()
    ]
    if not zones:
        return ""
    now = datetime.now(UTC)
    offsets = {now.astimezone(zone(z)).utcoffset() for z in zones}
    return zones[-1] if len(offsets) == 1 else ""


def recipient_timezone(*, lead_timezone: str, phone: str, fallback: str) -> str:
    """The lead's own time zone, else the one its phone prefix implies, else ``fallback``."""
    if lead_timezone and lead_timezone in valid_timezones():
        return lead_timezone
    if phone.startswith("+") and len(phone) > 5:
        # +1 NPA-NXX (NANP area code and exchange) or the first digits elsewhere.
        found = _zone_for_prefix(phone[:8] if phone.startswith("+1") else phone[:7])
        if found:
            return found
    return fallback if fallback in valid_timezones() else "UTC"


def window_next(at: datetime, tz_name: str, start: time, end: time) -> datetime:
    """The earliest instant at or after ``at`` inside the daily window [start, end) in tz."""
    tz = zone(tz_name)
    local = at.astimezone(tz)
    now_t = local.time()
    if start < end:
        if start <= now_t < end:
            return at
        day: date = local.date() if now_t < start else local.date() + timedelta(days=1)
    else:  # a window across midnight, e.g. 20:00-08:00
        if now_t >= start or now_t < end:
            return at
        day = local.date()
    return datetime.combine(day, start, tzinfo=tz).astimezone(UTC)


def in_window(at: datetime, tz_name: str, start: time, end: time) -> bool:
    return window_next(at, tz_name, start, end) == at
