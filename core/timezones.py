"""IANA time zone names: one cached set and one validator for every app; datetimes a
client sends, checked before they reach PostgreSQL."""

import functools
import zoneinfo
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils.timezone import is_naive, make_aware


@functools.cache
def valid_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value not in valid_timezones():
        raise ValidationError(f"Unknown time zone {value!r} (use an IANA name).")


# Real UTC offsets run from -12:00 to +14:00; PostgreSQL refuses beyond +-15:59, and Python
# accepts up to 23:59, so a client's "+20:21" would reach the database and fail there.
MAX_UTC_OFFSET = timedelta(hours=14)


def storable_datetime(value: datetime) -> datetime:
    """``value`` in UTC (naive: the current time zone), or ValueError when its offset is not
    a real one or it cannot be expressed in UTC (year 1 at +05:00)."""
    if is_naive(value):
        value = make_aware(value)
    offset = value.utcoffset() or timedelta(0)
    if abs(offset) > MAX_UTC_OFFSET:
        raise ValueError("The UTC offset must be between -14:00 and +14:00.")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("The date is out of range.")
