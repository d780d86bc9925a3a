from django import template

register = template.Library()


@register.filter
def thousands(value: object) -> str:
    """``{{ n|thousands }}``: 12345 -> "12,345" (anything else as it is)."""
    return f"{value:,}" if isinstance(value, int) else str(value)


@register.filter
def share(used: object, cap: object) -> int:
    """``{{ used|share:cap }}``: percent of the cap used, 0-100 (for a bar's width)."""
    if not isinstance(used, int) or not isinstance(cap, int) or cap <= 0:
        return 0
    return min(100, used * 100 // cap)
