from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from leads.pipeline import ROUTING_COLUMNS
from leads.selectors import leads_visible
from routing.engine import compile_rule
from routing.models import RoutingRule, RuleDestination


def rules_visible(
    queryset: QuerySet[RoutingRule] | None = None, *, workspace_ids: Collection[int] | None
) -> QuerySet[RoutingRule]:
    """Rules a person of these workspaces may see and change: those that route only their
    workspaces' leads (a source scope that is not empty and within them) to their workspaces
    (every destination). A rule of every workspace (empty scope) is the admins'."""
    queryset = RoutingRule.objects.all() if queryset is None else queryset
    if workspace_ids is None:
        return queryset
    ids = list(workspace_ids)
    scope = RoutingRule.workspaces.through.objects.filter(routingrule_id=OuterRef("pk"))
    foreign_destination = RuleDestination.objects.filter(rule_id=OuterRef("pk")).exclude(
        workspace_id__in=ids
    )
    return (
        queryset.filter(Exists(scope.filter(workspace_id__in=ids)))
        .exclude(Exists(scope.exclude(workspace_id__in=ids)))
        .exclude(Exists(foreign_destination))
    )


def destinations_visible(*, workspace_ids: Collection[int] | None) -> QuerySet[RuleDestination]:
    """Destinations of the rules these workspaces may see and change (``rules_visible``)."""
    destinations = RuleDestination.objects.all()
    if workspace_ids is None:
        return destinations
    return destinations.filter(rule__in=rules_visible(workspace_ids=workspace_ids))


def rule_get(*, rule_id: int, workspace_ids: Collection[int] | None) -> RoutingRule | None:
    return rules_visible(workspace_ids=workspace_ids).filter(pk=rule_id).first()


@dataclass
class RuleTestResult:
    tried: int
    matched: list[dict[str, Any]] = field(default_factory=list)


def rule_test(
    *, rule: RoutingRule, last: int = 200, workspace_ids: Collection[int] | None = None
) -> RuleTestResult:
    """Evaluate ``rule`` against the newest ``last`` leads (of ``workspace_ids``, None: of
    every workspace) without writing anything."""
    compiled = compile_rule(rule)
    now = timezone.now()
    newest = leads_visible(workspace_ids=workspace_ids).order_by("-created_at")
    leads = list(newest.values(*ROUTING_COLUMNS)[:last])
    result = RuleTestResult(tried=len(leads))
    for lead in leads:
        reason = compiled.match(lead, now)
        if reason is None:
            continue
        open_now = [d for d in compiled.destinations if d.is_open(now)]
        result.matched.append(
            {
                "lead": lead,
                "reason": reason,
                "destination": open_now[0].workspace_name if open_now else "",
            }
        )
    return result
