"""The device and sequence forms.

The device form: its secrets (the gateway API key, the webhook secret) are write-only.

Never rendered back: the inputs are always empty, and the help text only says whether a
value is stored. An empty input keeps the stored value; the API key can be removed with a
checkbox; a webhook secret left empty on a new device is generated and shown once, in the
success message.

The sequence form: stop statuses are checkboxes and placeholder defaults rows of name and
text (stored as before: a list of statuses, an object of name: text)."""

import secrets
from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from broadcast.models import Device, Sequence, default_stop_statuses
from leads.models import Lead


class SecretField(forms.CharField):
    """A write-only value: an empty password input that counts as changed only when typed."""

    widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})

    def has_changed(self, initial, data) -> bool:
        return bool(data)


def generate_webhook_secret() -> str:
    return secrets.token_urlsafe(24)


class DeviceForm(forms.ModelForm):
    gateway_token = SecretField(required=False, max_length=200, label="Gateway API key")
    clear_gateway_token = forms.BooleanField(required=False, label="Remove the stored API key")
    webhook_secret = SecretField(required=False, max_length=64, label="Webhook secret")

    class Meta:
        model = Device
        fields = [
            "workspace",
            "name",
            "phone",
            "channel",
            "status",
            "gateway_kind",
            "gateway_url",
            "gateway_session",
            "gateway_token",
            "webhook_secret",
            "min_interval_seconds",
            "max_interval_seconds",
            "daily_cap",
            "warmup_days",
            "active_since",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.generated_webhook_secret = ""
        stored = self.instance.pk is not None
        token, secret = self.fields["gateway_token"], self.fields["webhook_secret"]
        if stored and self.instance.gateway_token:
            token.help_text = "Set (not shown). Type a new key to replace it; empty keeps it."
        else:
            token.help_text = "Not set. The gateway's X-Api-Key, if it asks for one."
        if stored:
            secret.help_text = (
                "Set (not shown). Type a new one to replace it (then update the gateway's "
                "webhook); empty keeps it. HMAC-SHA512 key of the gateway's webhooks."
            )
        else:
            secret.help_text = (
                "Leave empty to generate one: it is shown once, after saving. HMAC-SHA512 key "
                "of the gateway's webhooks."
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        token = data.get("gateway_token") or ""
        if data.get("clear_gateway_token"):
            if token:
                self.add_error("clear_gateway_token", "Type a new key or remove it, not both.")
            data["gateway_token"] = ""
        elif not token:
            data["gateway_token"] = self.instance.gateway_token if self.instance.pk else ""
        if not data.get("webhook_secret"):
            if self.instance.pk:
                data["webhook_secret"] = self.instance.webhook_secret
            else:
                self.generated_webhook_secret = generate_webhook_secret()
                data["webhook_secret"] = self.generated_webhook_secret
        return data


class KeyValueWidget(forms.Widget):
    """Rows of name and text inputs (``<name>_key``, ``<name>_value``), a few empty ones
    below the stored pairs, and a button that adds another (``key_value.js``)."""

    blank_rows = 2

    class Media:
        js = ["broadcast/key_value.js"]
        css = {"all": ["broadcast/sequence_editor.css"]}

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[tuple[str, str]]:
        keys, values = data.getlist(f"{name}_key"), data.getlist(f"{name}_value")
        values += [""] * (len(keys) - len(values))
        return list(zip(keys, values, strict=False))

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return f"{name}_key" not in data

    def render(
        self, name: str, value: Any, attrs: dict | None = None, renderer: Any = None
    ) -> SafeString:
        pairs = list(value.items()) if isinstance(value, dict) else list(value or [])
        pairs += [("", "")] * self.blank_rows
        rows = format_html_join(
            "",
            '<tr><td><input type="text" name="{}_key" value="{}" placeholder="name, e.g. promo"'
            ' aria-label="Placeholder name" size="20"></td>'
            '<td><input type="text" name="{}_value" value="{}" placeholder="text when the lead'
            ' has none" aria-label="Default text" size="40"></td></tr>',
            ((name, key, name, "" if text is None else text) for key, text in pairs),
        )
        return format_html(
            '<div class="lb-key-value-rows"><table class="lb-key-value" id="{}"><thead><tr>'
            "<th>Placeholder</th><th>Default text</th></tr></thead><tbody>{}</tbody></table>"
            '<button type="button" class="button lb-key-value-add" data-for="{}">'
            "Add a row</button></div>",
            (attrs or {}).get("id", f"id_{name}"),
            rows,
            (attrs or {}).get("id", f"id_{name}"),
        )


class KeyValueField(forms.Field):
    """``{name: text}`` from key/value rows: names are placeholder names (letters, digits,
    ``_``), each once; rows with neither name nor text are ignored."""

    widget = KeyValueWidget

    def to_python(self, value: Any) -> dict[str, str]:
        if isinstance(value, dict):
            return value
        result: dict[str, str] = {}
        errors = []
        for key, text in value or []:
            key, text = (key or "").strip(), (text or "").strip()
            if not key and not text:
                continue
            if not key:
                errors.append(f"Give the default text “{text}” a placeholder name.")
            elif not key.isidentifier():
                errors.append(
                    f"“{key}” is not a placeholder name: use letters, digits and _ "
                    "(like promo_code)."
                )
            elif key in result:
                errors.append(f"“{key}” is given twice.")
            elif len(text) > 500:
                errors.append(f"The default of “{key}” is longer than 500 characters.")
            else:
                result[key] = text
        if errors:
            raise forms.ValidationError(errors)
        return result

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != {k: str(v) for k, v in (initial or {}).items()}
        except forms.ValidationError:
            return True


def status_choices() -> list[tuple[str, str]]:
    return list(Lead.Status.choices)


# A sequence's own fields, in the admin's form and the configuration API's.
SEQUENCE_FIELDS = [
    "workspace",
    "name",
    "is_active",
    "devices",
    "window_start",
    "window_end",
    "placeholder_defaults",
    "stop_on_reply",
    "stop_statuses",
]


class SequenceForm(forms.ModelForm):
    """Stop statuses as checkboxes and placeholder defaults as rows: no JSON to type."""

    stop_statuses = forms.MultipleChoiceField(
        choices=status_choices,
        required=False,
        initial=default_stop_statuses,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "lb-statuses"}),
        help_text="The sequence stops for a lead that reaches one of these statuses "
        "(checked before every send).",
    )
    placeholder_defaults = KeyValueField(
        required=False,
        initial=dict,
        label="Placeholders",
        help_text="Custom placeholders a step may use, e.g. {promo}, and the text used when "
        "the lead has no value (a lead field listed here gets a fallback, e.g. first_name: "
        "there). A placeholder that is neither a lead field nor named here is refused.",
    )

    class Meta:
        model = Sequence
        fields = SEQUENCE_FIELDS

    def clean_stop_statuses(self) -> list[str]:
        picked = set(self.cleaned_data.get("stop_statuses") or [])
        return [value for value, _ in Lead.Status.choices if value in picked]


class SequenceApiForm(forms.ModelForm):
    """A sequence's own fields (the model's ``clean`` checks the window, the placeholder
    defaults and the stop statuses); its steps are ``broadcast.admin.StepFormSet``'s. The
    configuration API's form: JSON values, where the admin's ``SequenceForm`` reads
    checkboxes and rows."""

    class Meta:
        model = Sequence
        fields = SEQUENCE_FIELDS
