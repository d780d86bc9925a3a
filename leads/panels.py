"""Sections that higher apps add to the lead history page (leads cannot import them).

An app registers ``register_panel(template, context_fn)`` in its ``AppConfig.ready``;
``context_fn(lead)`` returns the template's context, or None to show nothing.
"""

from collections.abc import Callable
from typing import Any

PANELS: list[tuple[str, Callable[[Any], dict | None]]] = []


def register_panel(template: str, context_fn: Callable[[Any], dict | None]) -> None:
    if all(t != template for t, _ in PANELS):
        PANELS.append((template, context_fn))


def panels_for(lead) -> list[dict]:
    result = []
    for template, context_fn in PANELS:
        context = context_fn(lead)
        if context is not None:
            result.append({"template": template, "context": context})
    return result
