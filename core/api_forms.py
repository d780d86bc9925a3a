"""The configuration API validates with the admin's own forms, so each rule has one home:
the API's serializer checks the JSON types, then the admin's ModelForm (its ``clean`` and
the model's ``full_clean``) decides, and its errors answer a 400, field by field.

A form is bound with the object's current values under the request's (``form_input``), so a
PATCH changes only what it names and a POST gets the model's defaults for what it leaves out.
Write-only fields (passwords, tokens) are never filled from the object: an empty one keeps
the stored value, as in the admin.
"""

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import models
from django.forms.models import model_to_dict
from rest_framework.exceptions import ValidationError


def form_input(
    form_class: "type[forms.ModelForm[Any]]", instance: models.Model, data: Mapping[str, Any]
) -> dict[str, Any]:
    """``instance``'s current values of the form's model fields, overlaid with ``data``."""
    declared = form_class.base_fields
    fields = [name for name in form_class._meta.fields or () if name in declared]
    current = model_to_dict(instance, fields=fields)
    # Declared (write-only) fields are not read back from the object: empty keeps it.
    for name in getattr(form_class, "declared_fields", {}):
        current.pop(name, None)
    for name, value in current.items():
        if isinstance(value, list):  # many-to-many: objects -> ids
            current[name] = [getattr(item, "pk", item) for item in value]
        elif value is None:
            current[name] = ""
    merged = {**current, **data}
    for name, field in declared.items():
        # As the admin's text box sends it: an empty {} or [] is a value, not "empty".
        if isinstance(field, forms.JSONField) and name in merged:
            if not isinstance(merged[name], str):
                merged[name] = json.dumps(merged[name])
    return merged


def form_errors(form: forms.BaseForm) -> dict[str, list[str]]:
    """The form's errors as the API's per-field errors (``__all__`` -> ``non_field_errors``)."""
    errors: dict[str, list[str]] = {}
    for name, messages in form.errors.items():
        key = "non_field_errors" if name == NON_FIELD_ERRORS else name
        errors[key] = [str(message) for message in messages]
    return errors


FormT = TypeVar("FormT", bound=forms.BaseForm)


def form_validate(form: FormT) -> FormT:
    """``form`` when it is valid; else a ``ValidationError`` (400) with its errors."""
    if not form.is_valid():
        raise ValidationError(form_errors(form))
    return form
