"""The desk's forms: a note, and an outcome (sale, not interested, callback at a local date
and time, do not contact)."""

from typing import Any

from django import forms

from leads.desk import NOTE_MAX_LENGTH


class NoteForm(forms.Form):
    text = forms.CharField(
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What happened? (n)"}),
        label="Note",
    )


class OutcomeForm(forms.Form):
    OUTCOMES = [
        ("callback", "Call back"),
        ("sale", "Sale"),
        ("not_interested", "Not interested"),
        ("dnc", "Do not contact"),
    ]
    outcome = forms.ChoiceField(choices=OUTCOMES, widget=forms.RadioSelect)
    callback_at = forms.DateTimeField(
        required=False,
        label="Call back at (the lead's local time)",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    note = forms.CharField(
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "Optional note"}),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("outcome") == "callback" and not data.get("callback_at"):
            self.add_error("callback_at", "Give the date and time to call back.")
        return data
