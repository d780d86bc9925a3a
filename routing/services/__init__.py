"""Routing services: rules, deciding and writing batches, the retry queue.

``rules``: the compiled-rules cache and rule edits; ``decide``: matching and allocation
under locked caps; ``route``: claim, decide and write a batch (``write``: its writes);
``retry``: the retry queue.
"""

from broadcast import services as broadcast_services
from dialer import services as dialer_services
from routing.services.decide import Decision, decide
from routing.services.lead_scope import routinglog_lead_scope_recheck
from routing.services.retry import lead_reroute, retry_delay, retry_now, retry_schedule
from routing.services.route import (
    RouteStats,
    retry_drain,
    route_pending,
    route_until_empty,
)
from routing.services.rules import (
    active_rules,
    destination_delete,
    destination_save,
    rule_duplicate,
    rule_save,
    rules_set_active,
    rules_version_bump,
)

__all__ = [
    "Decision",
    "RouteStats",
    "active_rules",
    "destination_delete",
    "destination_save",
    "broadcast_services",
    "decide",
    "dialer_services",
    "lead_reroute",
    "retry_delay",
    "retry_drain",
    "routinglog_lead_scope_recheck",
    "retry_now",
    "retry_schedule",
    "route_pending",
    "route_until_empty",
    "rule_duplicate",
    "rule_save",
    "rules_set_active",
    "rules_version_bump",
]
