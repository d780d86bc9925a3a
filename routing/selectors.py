import zoneinfo
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, JSONField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import JSONObject
from django.utils import timezone

from core import slo
from core.alerts.models import Severity
from core.alerts.registry import Finding
from leads.pipeline import ROUTING_COLUMNS
from leads.selectors import leads_visible
from routing.engine import compile_rule
from routing.models import CapCounter, RetryItem, RoutingRule, RuleDestination


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
                # named by slug, as the rules API names destinations
                "destination": open_now[0].workspace_slug if open_now else "",
            }
        )
    return result


# --- SLOs (/metrics, /health) and the routing-failures alert --------------------------------


def _window() -> dict[str, int]:
    window = settings.SLO_WINDOW_SECONDS
    claimed = slo.window_sum("routing_claimed_total", window).get("", 0)
    failed = slo.window_sum("routing_failed_total", window).get("", 0)
    locked = slo.window_sum("routing_locked_total", window).get("", 0)
    return {"claimed": claimed, "failed": failed, "locked": locked}


def routing_success_ratio() -> float:
    """Claimed leads whose batch did not fail, over the SLO window (1 when none)."""
    w = _window()
    return round(1 - w["failed"] / w["claimed"], 4) if w["claimed"] else 1.0


def routing_lock_ratio() -> float:
    """Claimed leads still held when their decision was taken (not taken by another
    worker after a stale claim), over the SLO window (1 when none)."""
    w = _window()
    attempts = w["claimed"] - w["failed"]
    return round(min(1.0, w["locked"] / attempts), 4) if attempts > 0 else 1.0


def routing_latency_p95_seconds() -> float:
    """p95 of intake commit to routing commit over the SLO window (0 when none)."""
    p95 = slo.window_quantile("routing_decision_latency_seconds", 0.95, settings.SLO_WINDOW_SECONDS)
    return round(p95, 3) if p95 is not None else 0.0


def alert_routing_failures() -> list[Finding]:
    """Routing batches failing above ALERT_ROUTING_FAILURE_RATIO of the claimed leads."""
    w = _window()
    if w["claimed"] < settings.ALERT_ROUTING_MIN_LEADS:
        return []
    ratio = w["failed"] / w["claimed"]
    if ratio <= settings.ALERT_ROUTING_FAILURE_RATIO:
        return []
    minutes = settings.SLO_WINDOW_SECONDS // 60
    return [
        Finding(
            "",
            f"Routing failures at {ratio:.0%}: {w['failed']} of {w['claimed']} leads in the "
            f"last {minutes} min went to the retry queue",
            Severity.CRITICAL,
        )
    ]


def lead_rule_placement() -> Subquery:
    """Over a lead row: the rule that routed it, ``{"id", "name"}`` (``leads.placement``)."""
    rule = RoutingRule.objects.filter(pk=OuterRef("routing_rule_id")).order_by()
    return Subquery(
        rule.values(json=JSONObject(id="id", name="name"))[:1], output_field=JSONField()
    )


DASHBOARD_DESTINATIONS = 50


def dashboard_routing(window: Any) -> dict[str, Any]:
    """The dashboard's "Caps" panel: each capped destination of an active rule in scope
    (its workspace is one of the person's) with the leads sent this local hour and day and
    what is left; and the retry queue (waiting, gave up) as failures that need a person.
    Three queries: destinations, their counters of the current periods, the queue."""
    ids = window.workspace_ids
    destinations = (
        RuleDestination.objects.filter(rule__is_active=True, is_active=True)
        .filter(Q(cap_per_hour__isnull=False) | Q(cap_per_day__isnull=False))
        .select_related("rule", "workspace")
        .order_by("workspace__name", "rule__name", "id")
    )
    if ids is not None:
        destinations = destinations.filter(workspace_id__in=list(ids))
    listed = list(destinations[:DASHBOARD_DESTINATIONS])
    starts = {d.pk: _period_starts(d, window.now) for d in listed}
    used: dict[tuple[int, str], int] = {}
    if listed:
        earliest = min(min(s.values()) for s in starts.values())
        counters = CapCounter.objects.filter(
            destination_id__in=list(starts), period_start__gte=earliest
        ).values_list("destination_id", "period", "period_start", "count")
        for destination_id, period, period_start, count in counters:
            if starts[destination_id][period] == period_start:
                used[(destination_id, period)] = count
    caps = []
    for d in listed:
        row: dict[str, Any] = {"rule": d.rule.name, "workspace": d.workspace.name}
        for period, cap in (("h", d.cap_per_hour), ("d", d.cap_per_day)):
            count = used.get((d.pk, period), 0)
            row[period] = (
                None if cap is None else {"used": count, "cap": cap, "left": max(cap - count, 0)}
            )
        caps.append(row)
    retry = _retry_items(ids).aggregate(
        waiting=Count("id", filter=Q(is_dead=False)), dead=Count("id", filter=Q(is_dead=True))
    )
    return {
        "caps": caps,
        "more": len(listed) == DASHBOARD_DESTINATIONS,
        "attention": [
            {
                "label": "Leads waiting to retry routing",
                "count": retry["waiting"],
                "model": "routing.retryitem",
                "query": "state=waiting",
            },
            {
                "label": "Leads whose routing gave up",
                "count": retry["dead"],
                "model": "routing.retryitem",
                "query": "state=failed",
            },
        ],
    }


def _period_starts(destination: RuleDestination, now: datetime) -> dict[str, datetime]:
    zone = zoneinfo.ZoneInfo(destination.timezone)
    local = now.astimezone(zone)
    hour = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    day = datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(UTC)
    return {"h": hour, "d": day}


def _retry_items(workspace_ids: Collection[int] | None) -> QuerySet[RetryItem]:
    items = RetryItem.objects.all()
    if workspace_ids is None:
        return items
    in_scope = leads_visible(workspace_ids=workspace_ids).filter(pk=OuterRef("lead_id"))
    return items.filter(Exists(in_scope))
