"""Rule evaluation in memory: compiled rules, conditions, schedules and distribution.

Pure functions over plain dicts (lead rows) so a batch is evaluated without queries.
"""

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

import re2

from routing.models import WINDOW_RE, RoutingRule, RuleCondition
from routing.patterns import compile_or_none, pattern_search

Op = RuleCondition.Operator


@dataclass(frozen=True)
class Condition:
    group: int
    field: str
    operator: str
    value: str
    regex: re2._Regexp | None = None

    def describe(self) -> str:
        label = Op(self.operator).label
        return f"{self.field} {label}" + (f" {self.value}" if self.operator != Op.EMPTY else "")


@dataclass(frozen=True)
class Destination:
    id: int
    workspace_id: int
    workspace_name: str
    workspace_is_partner: bool
    vici_list_id: int | None
    sequence_id: int | None
    weight: int
    cap_per_hour: int | None
    cap_per_day: int | None
    tz: str
    days: str
    start: time | None
    end: time | None
    workspace_slug: str = ""

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(zoneinfo.ZoneInfo(self.tz))
        if str(local.weekday()) not in self.days:
            return False
        if self.start is None or self.end is None:
            return True
        t = local.time()
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # overnight window

    def period_starts(self, now: datetime) -> dict[str, datetime]:
        """UTC instants where the local hour and the local day began (caps reset there)."""
        zone = zoneinfo.ZoneInfo(self.tz)
        local = now.astimezone(zone)
        hour = local.replace(minute=0, second=0, microsecond=0)
        day = datetime.combine(local.date(), time(0), tzinfo=zone)
        return {
            "h": hour.astimezone(zoneinfo.ZoneInfo("UTC")),
            "d": day.astimezone(zoneinfo.ZoneInfo("UTC")),
        }


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    priority: int
    workspace_ids: frozenset[int]
    sources: frozenset[str]
    distribution: str
    conditions: tuple[Condition, ...]
    destinations: tuple[Destination, ...]
    sequence: tuple[int, ...] = field(default=())  # destination order for weighted spreading

    def in_scope(self, lead: dict[str, Any]) -> bool:
        if self.workspace_ids and lead["workspace_id"] not in self.workspace_ids:
            return False
        return not self.sources or lead["source"] in self.sources

    def match(self, lead: dict[str, Any], now: datetime) -> str | None:
        """The reason it matches ("a and b"), or None."""
        if not self.in_scope(lead):
            return None
        if not self.conditions:
            return "it matches every lead in scope"
        groups: dict[int, list[Condition]] = {}
        for condition in self.conditions:
            groups.setdefault(condition.group, []).append(condition)
        for conditions in groups.values():
            if all(evaluate(c, lead, now) for c in conditions):
                return " and ".join(c.describe() for c in conditions)
        return None


def weighted_sequence(destinations: tuple[Destination, ...]) -> tuple[int, ...]:
    """Smooth weighted round robin order of destination indexes (one full cycle)."""
    weights = [d.weight for d in destinations]
    total = sum(weights)
    current = [0] * len(weights)
    order = []
    for _ in range(total):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=lambda i: current[i])
        current[best] -= total
        order.append(best)
    return tuple(order)


def lead_value(lead: dict[str, Any], name: str) -> Any:
    if name.startswith("custom."):
        return (lead.get("custom") or {}).get(name[len("custom.") :])
    return lead.get(name)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def evaluate(condition: Condition, lead: dict[str, Any], now: datetime) -> bool:
    raw = lead_value(lead, condition.field)
    op = condition.operator
    if op == Op.EMPTY:
        return raw is None or raw == "" or raw == [] or raw == {}
    if op == Op.LOCAL_TIME:
        match = WINDOW_RE.match(condition.value)
        if not match:
            return False
        tz = lead.get("timezone") or "UTC"
        try:
            local = now.astimezone(zoneinfo.ZoneInfo(tz))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            local = now
        minutes = local.hour * 60 + local.minute
        start = int(match.group(1)) * 60 + int(match.group(2))
        end = int(match.group(3)) * 60 + int(match.group(4))
        return start <= minutes < end if start <= end else minutes >= start or minutes < end
    text = "" if raw is None else str(raw)
    value = condition.value
    if op == Op.EQUALS:
        return text.lower() == value.lower()
    if op == Op.NOT_EQUALS:
        return text.lower() != value.lower()
    if op in (Op.IN, Op.NOT_IN):
        options = {v.strip().lower() for v in value.split(",")}
        return (text.lower() in options) == (op == Op.IN)
    if op == Op.CONTAINS:
        return value.lower() in text.lower()
    if op == Op.STARTS_WITH:
        return text.lower().startswith(value.lower())
    if op in (Op.GREATER, Op.LESS):
        left, right = _number(raw), _number(value)
        if left is None or right is None:
            return False
        return left > right if op == Op.GREATER else left < right
    if op == Op.REGEX:
        return condition.regex is not None and pattern_search(condition.regex, text)
    return False


def compile_rules(queryset) -> tuple[Rule, ...]:
    """Build the in-memory rules from the database (three queries)."""
    rules = []
    for rule in queryset.prefetch_related(
        "conditions", "destinations__workspace", "workspaces"
    ).order_by("-priority", "id"):
        rules.append(compile_rule(rule))
    return tuple(rules)


def compile_rule(rule: RoutingRule, conditions=None, destinations=None, workspace_ids=None) -> Rule:
    conditions = rule.conditions.all() if conditions is None else conditions
    destinations = rule.destinations.all() if destinations is None else destinations
    if workspace_ids is None:
        workspace_ids = [w.pk for w in rule.workspaces.all()] if rule.pk else []
    dests = tuple(
        Destination(
            id=d.pk or 0,
            workspace_id=d.workspace_id,
            workspace_name=d.workspace.name,
            workspace_slug=d.workspace.slug,
            workspace_is_partner=d.workspace.kind == "partner",
            vici_list_id=d.vici_list_id,
            sequence_id=d.sequence_id,
            weight=max(1, d.weight),
            cap_per_hour=d.cap_per_hour,
            cap_per_day=d.cap_per_day,
            tz=d.timezone,
            days=d.schedule_days,
            start=d.schedule_start,
            end=d.schedule_end,
        )
        for d in destinations
        if d.is_active
    )
    return Rule(
        id=rule.pk or 0,
        name=rule.name,
        priority=rule.priority,
        workspace_ids=frozenset(workspace_ids),
        sources=frozenset(rule.source_list),
        distribution=rule.distribution,
        conditions=tuple(
            Condition(
                group=c.group,
                field=c.field,
                operator=c.operator,
                value=c.value,
                regex=compile_or_none(c.value) if c.operator == Op.REGEX else None,
            )
            for c in conditions
        ),
        destinations=dests,
        sequence=weighted_sequence(dests) if dests else (),
    )
