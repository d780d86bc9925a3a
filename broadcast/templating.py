"""Message templates: ``{placeholder}`` names checked when a step is saved, rendered per lead."""

import string

from leads import fields as lead_fields

LEAD_FIELDS = lead_fields.PLACEHOLDERS

_formatter = string.Formatter()


def template_fields(template: str) -> list[str]:
    """The placeholder names of ``template``; ValueError on broken braces or a format spec."""
    names = []
    for _literal, name, spec, conversion in _formatter.parse(template):
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(f"{{{name}}} is not a placeholder name (letters, digits, _).")
        if spec or conversion:
            raise ValueError(f"{{{name}}}: format specs and conversions are not allowed.")
        names.append(name)
    return names


def template_validate(template: str, defaults: dict) -> list[str]:
    """Errors of a step template against the lead fields and the sequence's declared keys."""
    if not template.strip():
        return ["The message is empty."]
    try:
        names = template_fields(template)
    except ValueError as exc:
        return [f"{exc} Write {{{{ and }}}} for literal braces."]
    known = set(LEAD_FIELDS) | set(defaults or {})
    unknown = sorted({n for n in names if n not in known})
    if unknown:
        return [
            f"Unknown placeholder {{{name}}}: use a lead field ({', '.join(LEAD_FIELDS)}) or "
            "declare it in the sequence's placeholder defaults."
            for name in unknown
        ]
    return []


class _Values(dict):
    def __missing__(self, key):  # a field validated at save time but absent: render empty
        return ""


def lead_values(lead: dict, defaults: dict) -> dict:
    """Placeholder values of a lead (a dict of lead columns incl. ``custom``)."""
    values = _Values({key: lead.get(key) or "" for key in LEAD_FIELDS if key != "full_name"})
    values["full_name"] = f"{values['first_name']} {values['last_name']}".strip()
    custom = lead.get("custom") or {}
    for key, default in (defaults or {}).items():
        value = values.get(key) if key in LEAD_FIELDS else custom.get(key)
        values[key] = str(value) if value not in (None, "") else str(default)
    return values


def template_render(template: str, values: dict) -> str:
    return template.format_map(values)
