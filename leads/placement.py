"""Where a lead went, for ``GET /api/v1/leads/{id}/``: its destination workspace, the rule
that sent it there, its VICIdial list and lead id, its broadcast sequence.

The lead row holds the destination, the rule id and the Vici numbers; the rule's name, the
Vici list and the sequence live in higher apps, which the leads app cannot import. Each of
them registers a part in its ``AppConfig.ready``: ``register_placement(name, expression)``,
where ``expression()`` returns a query expression over the lead row (a subquery yielding a
JSON object, or NULL). ``placement_annotate`` adds every part to a lead queryset, so the
whole answer comes in the lead's one query; ``placement_of`` reads it back. An archived lead
(read from the archive schema, not through the queryset) answers its own columns only.
"""

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.db.models.expressions import BaseExpression

from leads.models import Lead

PARTS: dict[str, Callable[[], BaseExpression]] = {}


def register_placement(name: str, expression: Callable[[], BaseExpression]) -> None:
    PARTS[name] = expression


def placement_annotate(queryset: QuerySet[Lead]) -> QuerySet[Lead]:
    return queryset.annotate(**{f"placement_{name}": make() for name, make in PARTS.items()})


def placement_of(lead: Lead) -> dict[str, Any]:
    destination = lead.destination_workspace if lead.destination_workspace_id else None
    result: dict[str, Any] = {
        "workspace": destination.slug if destination is not None else None,
        "routed_at": lead.routed_at,
        "rule": None,
        "vici_list": None,
        "vici_lead_id": lead.vici_lead_id,
        "sequence": None,
    }
    for name in PARTS:
        result[name] = getattr(lead, f"placement_{name}", None)
    if result["rule"] is None and lead.routing_rule_id is not None:
        result["rule"] = {"id": lead.routing_rule_id, "name": None}  # deleted, or archived
    if result["vici_list"] is None and lead.vici_list_number is not None:
        result["vici_list"] = {"list_id": lead.vici_list_number}
    return result
