"""Message templates: ``{placeholder}`` names checked when a step is saved, rendered per lead."""

import string
from collections.abc import Collection, Sequence

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


def lead_values(lead: dict, defaults: dict, names: Collection[str] | None = None) -> dict:
    """Placeholder values of a lead (a dict of lead columns incl. ``custom``). With
    ``names`` (a template's placeholders), only those: the same rendering of that
    template, without building the values it does not use."""
    fields = LEAD_FIELDS if names is None else [key for key in LEAD_FIELDS if key in names]
    values = _Values({key: lead.get(key) or "" for key in fields if key != "full_name"})
    if names is None or "full_name" in names:
        first, last = lead.get("first_name") or "", lead.get("last_name") or ""
        values["full_name"] = f"{first} {last}".strip()
    custom = lead.get("custom") or {}
    for key, default in (defaults or {}).items():
        if names is not None and key not in names:
            continue
        value = values.get(key) if key in LEAD_FIELDS else custom.get(key)
        values[key] = str(value) if value not in (None, "") else str(default)
    return values


def template_columns(template: str, defaults: dict, columns: Sequence[str]) -> tuple[str, ...]:
    """The lead ``columns`` (``custom`` among them) that rendering ``template`` reads: a
    caller rendering thousands fetches and parses no more. All of them when the template
    does not parse (its rendering then fails as it would)."""
    try:
        names = set(template_fields(template))
    except ValueError:
        return tuple(columns)
    if "full_name" in names:
        names |= {"first_name", "last_name"}
    if any(key in names and key not in LEAD_FIELDS for key in defaults or {}):
        names.add("custom")
    return tuple(column for column in columns if column in names)


def template_render(template: str, values: dict) -> str:
    return template.format_map(values)
