"""IANA time zone names: one cached set and one validator for every app."""

import functools
import zoneinfo

from django.core.exceptions import ValidationError


@functools.cache
def valid_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value not in valid_timezones():
        raise ValidationError(f"Unknown time zone {value!r} (use an IANA name).")
