"""Routing rules: the compiled-rules cache and the managers' rule and destination edits."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from core.db import delete_unless_used
from core.errors import ApplicationError
from leads.models import Workspace
from routing.engine import Rule, compile_rules
from routing.errors import INVALID
from routing.models import RoutingRule, RuleCondition, RuleDestination, RulesVersion

_memo: dict[str, Any] = {"version": None, "rules": ()}


def rules_version_bump() -> None:
    """Called on every rule/condition/destination change, in the same transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            # A random token, not a counter: a restored or rolled-back database can never
            # bring back a value a process has cached.
            "INSERT INTO routing_rulesversion (id, version) "
            "VALUES (1, (random() * 9e18)::bigint) "
            "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version"
        )


# The rules' version, for a caller that sends it with other statements (``core.pipeline``)
# and then calls ``active_rules(version)`` with its row.
RULES_VERSION_SQL = "SELECT version FROM routing_rulesversion WHERE id = 1"


def active_rules(version: list[tuple[int]] | None = None) -> tuple[Rule, ...]:
    """Compiled active rules; one cheap query checks the version, so never stale (or the
    rows of ``RULES_VERSION_SQL``, read by the caller in its own message)."""
    if version is None:
        current = RulesVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    else:
        current = version[0][0] if version else None
    if current is None or _memo["version"] != current:
        _memo["rules"] = compile_rules(RoutingRule.objects.filter(is_active=True))
        _memo["version"] = current
    rules: tuple[Rule, ...] = _memo["rules"]
    return rules


def rule_duplicate(*, rule: RoutingRule) -> RoutingRule:
    """An inactive copy of a rule with its conditions and destinations."""
    with transaction.atomic():
        conditions = list(rule.conditions.all())
        destinations = list(rule.destinations.all())
        workspaces = list(rule.workspaces.all())
        rule.pk = None
        rule.name = f"{rule.name} (copy)"[:200]
        rule.is_active = False
        rule.rotation = 0
        rule.save()
        rule.workspaces.set(workspaces)
        for item in conditions + destinations:
            item.pk = None
            item.rule = rule
            item.save()
    return rule


def rules_set_active(*, rule_ids: list[int], active: bool) -> int:
    with transaction.atomic():
        count = RoutingRule.objects.filter(pk__in=rule_ids).update(
            is_active=active, updated_at=timezone.now()
        )
        rules_version_bump()  # .update() sends no post_save
    return count


def _validated(model_instance: RuleCondition | RuleDestination) -> None:
    try:
        model_instance.full_clean(exclude=["rule"])
    except ValidationError as exc:
        raise ApplicationError("Invalid rule.", code=INVALID, errors=exc.message_dict)


def _nested_errors(items: dict[str, list[Any]]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    for name, built in items.items():
        problems = {}
        for index, item in enumerate(built):
            try:
                _validated(item)
            except ApplicationError as exc:
                problems[index] = exc.errors
        if problems:
            errors[name] = problems
    return errors


def rule_save(
    *,
    rule: RoutingRule | None,
    data: dict[str, Any],
    conditions: list[dict[str, Any]] | None,
    destinations: list[dict[str, Any]] | None,
    workspaces: list[Workspace] | None,
) -> RoutingRule:
    """Create or update a rule; given nested lists replace the existing ones."""
    built_conditions = [RuleCondition(**c) for c in conditions or []]
    built_destinations = [RuleDestination(**d) for d in destinations or []]
    errors = _nested_errors({"conditions": built_conditions, "destinations": built_destinations})
    if errors:
        raise ApplicationError("Invalid rule.", code=INVALID, errors=errors)
    with transaction.atomic():
        rule = rule or RoutingRule()
        for key, value in data.items():
            setattr(rule, key, value)
        rule.save()
        if workspaces is not None:
            rule.workspaces.set(workspaces)
        if conditions is not None:
            rule.conditions.all().delete()
            for condition in built_conditions:
                condition.rule = rule
            RuleCondition.objects.bulk_create(built_conditions)
        if destinations is not None:
            rule.destinations.all().delete()
            for destination in built_destinations:
                destination.rule = rule
            RuleDestination.objects.bulk_create(built_destinations)
        rules_version_bump()
    return rule


def destination_save(*, destination: RuleDestination) -> RuleDestination:
    """Create or change one destination of a rule (validated by the admin's destination
    form); workers recompile the rules at once."""
    with transaction.atomic():
        destination.save()
        rules_version_bump()
    return destination


def destination_delete(*, destination: RuleDestination) -> None:
    with transaction.atomic():
        delete_unless_used(destination, what="destination")
        rules_version_bump()
