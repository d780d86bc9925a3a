from django import template

from core.safe_url import http_url_or_empty

register = template.Library()


@register.filter
def http_url(value: object) -> str:
    """``{{ url|http_url }}``: the URL if it is http(s), else an empty string."""
    return http_url_or_empty(value)
