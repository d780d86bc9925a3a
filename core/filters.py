"""API filters shared by the apps."""

from datetime import datetime
from typing import Any

from django import forms
from django_filters import IsoDateTimeFilter
from django_filters.fields import IsoDateTimeField

from core.errors import INVALID
from core.timezones import storable_datetime


class StorableIsoDateTimeField(IsoDateTimeField):
    def clean(self, value: Any) -> datetime | None:
        cleaned = super().clean(value)
        if cleaned is None:
            return None
        try:
            return storable_datetime(cleaned)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code=INVALID)


class StorableIsoDateTimeFilter(IsoDateTimeFilter):
    """An ISO 8601 datetime with a real UTC offset (a 400, not a database error)."""

    field_class = StorableIsoDateTimeField
