"""The rule editor's forms: no codes to type.

A condition's field is picked from the lead fields and the custom keys seen in recent leads
(or typed as a new custom key); its OR group has a name; a destination's open days are
checkboxes and its time zone a list. Stored values are unchanged: ``field`` is still
``state`` or ``custom.<key>``, ``schedule_days`` the weekday digits, ``group`` the number
that groups conditions (``group_name`` is its label).
"""

import zoneinfo
from functools import cache
from typing import Any

from django import forms
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from routing.models import LEAD_FIELDS, RuleCondition, RuleDestination
from routing.summary import DAY_NAMES, group_label, rule_summary

CUSTOM = "custom."
PICK = "Pick a field, or type a custom key."


@cache
def timezone_choices() -> list[tuple[str, str]]:
    names = sorted(zoneinfo.available_timezones() - {"UTC"})
    return [("UTC", "UTC"), *((name, name) for name in names)]


def field_choices(custom_keys: list[str], current: str = "") -> list[Any]:
    """The picker's options: the lead fields, then the custom keys (and ``current``)."""
    keys = sorted({*custom_keys, *([current[len(CUSTOM) :]] if current.startswith(CUSTOM) else [])})
    lead = [(name, name.replace("_", " ")) for name in LEAD_FIELDS]
    custom = [(f"{CUSTOM}{key}", key) for key in keys if key]
    choices: list[Any] = [("", "— pick a field —"), ("Lead fields", lead)]
    if custom:
        choices.append(("Custom keys (seen in recent leads)", custom))
    return choices


class FieldPickerWidget(forms.MultiWidget):
    """A select of known fields, and a text box for a custom key not seen yet."""

    def __init__(self, choices: list[Any]) -> None:
        super().__init__(
            [
                forms.Select(choices=choices),
                forms.TextInput(attrs={"placeholder": "or a new custom key", "size": 16}),
            ]
        )

    def decompress(self, value: Any) -> list[Any]:
        return [value or "", ""]

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[Any]:
        if f"{name}_0" not in data and name in data:  # a plain post of the stored value
            return [data.get(name), ""]
        return super().value_from_datadict(data, files, name)


class FieldPickerField(forms.MultiValueField):
    def __init__(self, choices: list[Any], **kwargs: Any) -> None:
        fields = (forms.CharField(required=False), forms.CharField(required=False, max_length=93))
        kwargs.setdefault("error_messages", {"required": PICK})
        super().__init__(
            fields, widget=FieldPickerWidget(choices), require_all_fields=False, **kwargs
        )

    def compress(self, data_list: list[Any]) -> str:
        picked, other = (data_list + ["", ""])[:2]
        other = (other or "").strip()
        if other.startswith(CUSTOM):
            other = other[len(CUSTOM) :].strip()
        if other:
            return f"{CUSTOM}{other}"
        if not picked:
            raise forms.ValidationError(PICK, code="required")
        return picked


class GroupNameWidget(forms.TextInput):
    """A text box suggesting the rule's group names (its own ``<datalist>``)."""

    def __init__(self, suggestions: list[str]) -> None:
        super().__init__(attrs={"size": 14, "autocomplete": "off"})
        self.suggestions = suggestions

    def render(
        self, name: str, value: Any, attrs: dict | None = None, renderer: Any = None
    ) -> SafeString:
        list_id = f"{(attrs or {}).get('id') or name}-groups"
        box = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}">', ((s,) for s in self.suggestions))
        return format_html('{}<datalist id="{}">{}</datalist>', box, list_id, options)


class ConditionForm(forms.ModelForm):
    """``custom_keys`` and ``group_names`` are set per request by the inline."""

    custom_keys: list[str] = []
    group_names: list[str] = []

    class Meta:
        model = RuleCondition
        fields = ["group_name", "field", "operator", "value"]
        labels = {"group_name": "OR group"}
        help_texts = {
            "group_name": "Conditions with the same group name must all hold; "
            "the rule matches when any group does.",
            "field": "",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.field if self.instance.pk else ""
        self.fields["field"] = FieldPickerField(
            field_choices(self.custom_keys, current), label="Field"
        )
        names = self.group_names or [group_label(0, "")]
        self.fields["group_name"].widget = GroupNameWidget(names)
        self.fields["group_name"].required = True
        if self.instance.pk:
            self.initial["group_name"] = group_label(self.instance.group, self.instance.group_name)
        else:
            self.initial["group_name"] = names[0]

    def clean_group_name(self) -> str:
        return " ".join((self.cleaned_data.get("group_name") or "").split())


class ConditionFormSet(BaseInlineFormSet):
    """Gives each OR group name its number: a name the rule already has keeps its number,
    a new name gets the next free one (unchanged rows keep theirs, so they need no save)."""

    def clean(self) -> None:
        super().clean()
        numbers: dict[str, int] = {}
        for form in self.initial_forms:
            instance = form.instance
            if instance.pk is not None:
                numbers.setdefault(group_label(instance.group, instance.group_name), instance.group)
        next_free = max(numbers.values(), default=-1) + 1
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("group_name"):
                continue
            name = data["group_name"]
            if name not in numbers:
                numbers[name], next_free = next_free, next_free + 1
            form.instance.group = numbers[name]
            form.instance.group_name = name


class DaysField(forms.MultipleChoiceField):
    """Open weekdays as checkboxes, stored as the digits ``"01234"`` (Monday = 0)."""

    widget = forms.CheckboxSelectMultiple(attrs={"class": "lb-days"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [(str(i), name) for i, name in enumerate(DAY_NAMES)])
        kwargs.setdefault(
            "error_messages",
            {"required": "Tick at least one open day (or make the destination inactive)."},
        )
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return list(value) if isinstance(value, str) else value

    def clean(self, value: Any) -> str:
        return "".join(sorted(set(super().clean(value))))


class DestinationForm(forms.ModelForm):
    schedule_days = DaysField(label="Open days", initial="0123456")
    timezone = forms.ChoiceField(
        label="Time zone",
        choices=timezone_choices,
        initial="UTC",
        error_messages={"invalid_choice": "Unknown time zone %(value)s: pick one from the list."},
        help_text="Caps and opening hours count in this time zone.",
    )

    class Meta:
        model = RuleDestination
        fields = [
            "workspace",
            "is_active",
            "weight",
            "vici_list",
            "sequence",
            "cap_per_hour",
            "cap_per_day",
            "schedule_days",
            "schedule_start",
            "schedule_end",
            "timezone",
        ]
        labels = {"schedule_start": "Open from", "schedule_end": "until"}


def summary_of_post(*, form: forms.ModelForm, formsets: list[Any]) -> str:
    """The rule as posted, in words (its valid rows only): the form's live summary."""
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    names = [w.name for w in data.get("workspaces") or []]
    conditions: list[RuleCondition] = []
    destinations: list[RuleDestination] = []
    for formset in formsets:
        formset.is_valid()
        for row in formset.forms:
            cleaned = getattr(row, "cleaned_data", None)
            if not cleaned or cleaned.get("DELETE") or row.errors:
                continue
            if isinstance(row.instance, RuleCondition):
                conditions.append(row.instance)
            elif isinstance(row.instance, RuleDestination):
                destinations.append(row.instance)
    return rule_summary(
        form.instance, conditions=conditions, destinations=destinations, workspace_names=names
    )
