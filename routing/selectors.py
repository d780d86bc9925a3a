from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from leads.models import Lead
from leads.pipeline import ROUTING_COLUMNS
from routing.engine import compile_rule
from routing.models import RoutingRule


@dataclass
class RuleTestResult:
    tried: int
    matched: list[dict[str, Any]] = field(default_factory=list)


def rule_test(*, rule: RoutingRule, last: int = 200) -> RuleTestResult:
    """Evaluate ``rule`` against the newest ``last`` leads without writing anything."""
    compiled = compile_rule(rule)
    now = timezone.now()
    leads = list(Lead.objects.order_by("-created_at").values(*ROUTING_COLUMNS)[:last])
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
