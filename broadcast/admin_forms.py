"""The device form: its secrets (the gateway API key, the webhook secret) are write-only.

Never rendered back: the inputs are always empty, and the help text only says whether a
value is stored. An empty input keeps the stored value; the API key can be removed with a
checkbox; a webhook secret left empty on a new device is generated and shown once, in the
success message."""

import secrets
from typing import Any

from django import forms

from broadcast.models import Device, Sequence


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


class SequenceForm(forms.ModelForm):
    """A sequence's own fields (the model's ``clean`` checks the window, the placeholder
    defaults and the stop statuses); its steps are ``broadcast.admin.StepFormSet``'s."""

    class Meta:
        model = Sequence
        fields = [
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
