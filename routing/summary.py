"""A rule in one plain sentence, for the admin form and changelist:

    If state is CA or TX and source starts with fb: 70% Acme, 30% Partner, at most 100 a day,
    Mon-Fri 09:00-18:00 America/Los_Angeles

Pure functions over a rule's rows (conditions, destinations with their workspaces, the source
scope): they read only what the caller prefetched.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from routing.models import RoutingRule, RuleCondition, RuleDestination

Op = RuleCondition.Operator
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PHRASES: dict[str, str] = {
    Op.EQUALS: "is",
    Op.NOT_EQUALS: "is not",
    Op.CONTAINS: "contains",
    Op.STARTS_WITH: "starts with",
    Op.GREATER: "is greater than",
    Op.LESS: "is less than",
    Op.REGEX: "matches",
}


def field_label(field: str) -> str:
    if field.startswith("custom."):
        return f"custom {field[len('custom.') :]}"
    return field.replace("_", " ")


def either(items: Sequence[str], word: str = "or") -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def condition_text(field: str, operator: str, value: str) -> str:
    name = field_label(field)
    if operator == Op.EMPTY:
        return f"{name} is empty"
    if operator == Op.LOCAL_TIME:
        return f"the lead's local time is within {value}"
    if operator in (Op.IN, Op.NOT_IN):
        options = [v.strip() for v in value.split(",") if v.strip()]
        if operator == Op.IN:
            return f"{name} is {either(options)}"
        return f"{name} is none of {', '.join(options)}"
    return f"{name} {PHRASES.get(operator, operator)} {value}"


def group_label(group: int, name: str) -> str:
    """What the form shows as a condition's OR group: its name, or "Group <n>"."""
    return name or f"Group {group + 1}"


def conditions_text(conditions: Iterable[Any]) -> str:
    groups: dict[int, list[Any]] = {}
    for condition in sorted(conditions, key=lambda c: (c.group, c.pk or 0)):
        groups.setdefault(condition.group, []).append(condition)
    parts = []
    for members in groups.values():
        text = " and ".join(condition_text(c.field, c.operator, c.value) for c in members)
        name = next((c.group_name for c in members if c.group_name), "")
        parts.append(f"{text} [{name}]" if name and len(groups) > 1 else text)
    return ", or ".join(parts)


def days_text(days: str) -> str:
    picked = sorted({int(c) for c in days if c in "0123456"})
    if len(picked) == 7:
        return ""
    if not picked:
        return "never open"
    runs: list[list[int]] = []
    for day in picked:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    words = []
    for run in runs:
        if len(run) >= 3:
            words.append(f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}")
        else:
            words += [DAY_NAMES[d] for d in run]
    return ", ".join(words)


def destination_terms(destination: RuleDestination) -> str:
    """Caps and opening hours: "at most 100 a day, Mon-Fri 09:00-18:00 America/New_York"."""
    terms = []
    if destination.cap_per_hour is not None:
        terms.append(f"at most {destination.cap_per_hour} an hour")
    if destination.cap_per_day is not None:
        terms.append(f"at most {destination.cap_per_day} a day")
    start, end = destination.schedule_start, destination.schedule_end
    hours = f"{start:%H:%M}-{end:%H:%M}" if start is not None and end is not None else ""
    days = days_text(destination.schedule_days)
    if days or hours:
        terms.append(" ".join(t for t in (days, hours, destination.timezone) if t))
    return ", ".join(terms)


def destinations_text(distribution: str, destinations: Iterable[RuleDestination]) -> str:
    active = [d for d in destinations if d.is_active]
    if not active:
        return "no active destination (the rule takes no lead)"
    names = [d.workspace.name for d in active]
    if distribution == RoutingRule.Distribution.WEIGHTED and len(active) > 1:
        total = sum(max(1, d.weight) for d in active)
        names = [
            f"{round(100 * max(1, d.weight) / total)}% {n}"
            for d, n in zip(active, names, strict=True)
        ]
    terms = [destination_terms(d) for d in active]
    if len(set(terms)) == 1:  # the same for every destination: said once, at the end
        shared, terms = terms[0], [""] * len(active)
    else:
        shared = ""
    listed = [f"{n} ({t})" if t else n for n, t in zip(names, terms, strict=True)]
    if len(active) == 1:
        text = listed[0]
    elif distribution == RoutingRule.Distribution.ROUND_ROBIN:
        text = f"{either(listed, 'and')} in turn"
    elif distribution == RoutingRule.Distribution.WEIGHTED:
        text = ", ".join(listed)
    else:
        text = ", else ".join(listed)
    return f"{text}, {shared}" if shared else text


def scope_text(workspace_names: Sequence[str], sources: Sequence[str]) -> str:
    parts = []
    if workspace_names:
        parts.append(f"leads of {either(sorted(workspace_names), 'and')}")
    if sources:
        parts.append(f"from source {either(list(sources))}")
    return " ".join(parts)


def rule_summary(
    rule: RoutingRule,
    *,
    conditions: Iterable[RuleCondition] | None = None,
    destinations: Iterable[RuleDestination] | None = None,
    workspace_names: Sequence[str] | None = None,
) -> str:
    """The rule in a sentence; the relations default to the rule's (prefetch them)."""
    if rule.pk is None and conditions is None:
        return ""
    conditions = rule.conditions.all() if conditions is None else conditions
    destinations = rule.destinations.all() if destinations is None else destinations
    if workspace_names is None:
        workspace_names = [w.name for w in rule.workspaces.all()] if rule.pk else []
    scope = scope_text(workspace_names, rule.source_list)
    matching = conditions_text(conditions)
    if matching:
        head = f"{scope}, if {matching}" if scope else f"if {matching}"
    else:
        head = scope or "every lead"
    text = f"{head}: {destinations_text(rule.distribution, destinations)}"
    return text[0].upper() + text[1:]
