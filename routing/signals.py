"""Receivers: intake news and rule changes. They only enqueue or bump a version."""

from django.db.models.signals import m2m_changed, post_delete, post_save


def on_leads_ingested(sender, workspace_id, lead_ids, **kwargs) -> None:
    from routing.tasks import routing_wake

    routing_wake()


def on_rule_changed(sender, **kwargs) -> None:
    from routing.services import rules_version_bump

    rules_version_bump()


def connect() -> None:
    from leads.signals import leads_ingested
    from routing.models import RoutingRule, RuleCondition, RuleDestination

    leads_ingested.connect(on_leads_ingested, dispatch_uid="routing.on_leads_ingested")
    for model in (RoutingRule, RuleCondition, RuleDestination):
        for signal in (post_save, post_delete):
            signal.connect(
                on_rule_changed, sender=model, dispatch_uid=f"routing.{model.__name__}.{signal}"
            )
    m2m_changed.connect(
        on_rule_changed,
        sender=RoutingRule.workspaces.through,
        dispatch_uid="routing.rule_workspaces",
    )
