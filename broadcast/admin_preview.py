"""A sequence's preview: its steps rendered for the workspace's newest lead (or a sample),
on the saved sequence and live while its form is edited (nothing saved)."""

from collections.abc import Iterable
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from broadcast.templating import lead_values, template_render, template_validate
from leads.models import Lead

SAMPLE_LEAD: dict[str, Any] = {
    "first_name": "Maria",
    "last_name": "Lopez",
    "phone": "+12125550142",
    "email": "maria@example.com",
    "company": "Acme Solar",
    "industry": "Energy",
    "state": "NY",
    "postal_code": "10001",
    "source": "sample",
    "custom": {},
}


def preview_lead(workspace_id: int | None) -> dict[str, Any]:
    newest = None
    if workspace_id is not None:
        newest = (
            Lead.objects.filter(workspace_id=workspace_id)
            .order_by("-created_at")
            .values(*SAMPLE_LEAD.keys())
            .first()
        )
    return newest or SAMPLE_LEAD


def preview_html(
    *, workspace_id: int | None, defaults: dict, steps: Iterable[tuple[int, int, str]]
) -> SafeString | str:
    """``steps``: (position, delay in minutes, template) in any order."""
    steps = sorted(steps, key=lambda step: step[0])
    if not steps:
        return "No steps yet."
    lead = preview_lead(workspace_id)
    values = lead_values(lead, defaults)
    rows = []
    for position, delay, template in steps:
        errors = template_validate(template, defaults)
        text = "; ".join(errors) if errors else template_render(template, values)
        rows.append((position, delay, text))
    name = f"{lead.get('first_name', '')} {lead.get('last_name', '')}".strip()
    return format_html(
        "<div>For {}:</div><ol>{}</ol>",
        name or lead.get("phone", ""),
        format_html_join("", "<li>(+{1} min) {2}</li>", rows),
    )


def preview_of_post(*, form: Any, formsets: list[Any]) -> SafeString | str:
    """The sequence form as posted, previewed (steps whose message could be read)."""
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    workspace = data.get("workspace")
    defaults = data.get("placeholder_defaults")
    if not isinstance(defaults, dict):
        defaults = {}
    steps = []
    for formset in formsets:
        formset.is_valid()
        for row in formset.forms:
            cleaned = getattr(row, "cleaned_data", None) or {}
            if cleaned.get("DELETE") or not (row.has_changed() or row.instance.pk):
                continue
            # A message the step check refused is shown with its error, as posted.
            template = cleaned.get("template") or str(row["template"].value() or "")
            if template:
                delay = cleaned.get("delay_minutes") or 0
                steps.append((cleaned.get("position") or 0, delay, template))
    return preview_html(
        workspace_id=workspace.pk if workspace is not None else None,
        defaults=defaults,
        steps=steps,
    )
