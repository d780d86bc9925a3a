"""Deciding a batch: match every lead, then allocate destinations under locked caps.

Caps and rotation counters are row-locked in a fixed order (rules, then counters, by id)
inside the decision transaction, so they are exact under any number of workers and
cannot deadlock. The locks and the partner sales go in one message; the counters and
rotations are written back by statements the caller sends with its own writes.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from core.db import unnest_columns
from core.pipeline import Pending, Sender, Statement, pipelined
from leads.models import Workspace
from routing.engine import Destination, Rule
from routing.models import RoutingLog, RoutingRule

Counters = dict[tuple[int, str], list[int]]  # (destination, "h"|"d") -> [count, cap]


@dataclass
class Decision:
    lead: dict[str, Any]
    outcome: str
    reason: str
    rule: Rule | None = None
    destination: Destination | None = None
    workspace_id: int | None = None


CounterKey = tuple[int, str, datetime, int]  # (destination, period, period start, cap)


def _lock_rules(send: Sender, rule_ids: list[int]) -> Pending | None:
    if not rule_ids:
        return None
    return send(
        "SELECT id, rotation FROM routing_routingrule WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
        [sorted(rule_ids)],
    )


def _counter_keys(destinations: list[Destination], now: datetime) -> list[CounterKey]:
    keys = []
    for d in destinations:
        starts = d.period_starts(now)
        if d.cap_per_hour is not None:
            keys.append((d.id, "h", starts["h"], d.cap_per_hour))
        if d.cap_per_day is not None:
            keys.append((d.id, "d", starts["d"], d.cap_per_day))
    keys.sort(key=lambda k: (k[0], k[1]))
    return keys


def _lock_counters(send: Sender, keys: list[CounterKey]) -> Pending | None:
    """Lock (creating when missing) the hour/day counters: rows (destination, period, count)."""
    if not keys:
        return None
    ids, periods, starts_, _ = unnest_columns(keys)
    send(
        "INSERT INTO routing_capcounter (destination_id, period, period_start, count) "
        "SELECT * FROM unnest(%s::bigint[], %s::varchar[], %s::timestamptz[], "
        "array_fill(0, ARRAY[%s])) ON CONFLICT DO NOTHING",
        [ids, periods, starts_, len(ids)],
    )
    return send(
        "SELECT c.destination_id, c.period, c.count FROM routing_capcounter c "
        "JOIN unnest(%s::bigint[], %s::varchar[], %s::timestamptz[]) k(d, p, s) "
        "ON c.destination_id = k.d AND c.period = k.p AND c.period_start = k.s "
        "ORDER BY c.destination_id, c.period FOR UPDATE OF c",
        [ids, periods, starts_],
    )


def _partner_sales(send: Sender, hashes: list[str], window_start: datetime) -> Pending | None:
    """Which partner workspaces each dedupe hash was already routed to (in the window):
    rows (hash, workspace)."""
    if not hashes:
        return None
    return send(
        "SELECT l.dedupe_hash, l.destination_workspace_id FROM leads_lead l "
        "JOIN leads_workspace w ON w.id = l.destination_workspace_id "
        "WHERE l.dedupe_hash = ANY(%s) AND w.kind = %s AND l.routed_at >= %s",
        [hashes, Workspace.Kind.PARTNER, window_start],
    )


def _expired(lead: dict[str, Any], now: datetime) -> bool:
    return bool(lead["expires_at"] and lead["expires_at"] <= now)


def _match(
    leads: list[dict[str, Any]], rules: tuple[Rule, ...], now: datetime
) -> tuple[list[list[tuple[Rule, str]]], dict[int, Rule]]:
    """Every lead's matching rules (with the reason), and the rules any lead matched."""
    matches: list[list[tuple[Rule, str]]] = []
    touched: dict[int, Rule] = {}
    for lead in leads:
        matched = []
        if not _expired(lead, now):
            for rule in rules:
                reason = rule.match(lead, now)
                if reason is not None and rule.destinations:
                    matched.append((rule, reason))
                    touched[rule.id] = rule
        matches.append(matched)
    return matches, touched


class _Allocator:
    """The locked state of one batch: rotations, cap counters and partner sales."""

    def __init__(self, rules: dict[int, Rule], leads: list[dict[str, Any]], now: datetime):
        """Lock the batch's rules and counters and read its partner sales: one round trip."""
        self.rules, self.now = rules, now
        self.destinations = {d.id: d for r in rules.values() for d in r.destinations}
        keys = _counter_keys(sorted(self.destinations.values(), key=lambda d: d.id), now)
        partner = any(d.workspace_is_partner for d in self.destinations.values())
        with pipelined() as send:
            rotation = _lock_rules(send, list(rules))
            counts = _lock_counters(send, keys)
            window = now - timedelta(days=settings.DEDUPE_WINDOW_DAYS)
            hashes = [lead["dedupe_hash"] for lead in leads] if partner else []
            sales = _partner_sales(send, hashes, window)
        self.rotation: dict[int, int] = dict(rotation.rows()) if rotation else {}
        found = {(d, p): n for d, p, n in counts.rows()} if counts else {}
        self.counters: Counters = {(d, p): [found[(d, p)], cap] for d, p, _, cap in keys}
        self.sold: dict[str, set[int]] = defaultdict(set)
        for hash_, workspace_id in sales.rows() if sales else ():
            self.sold[hash_].add(workspace_id)

    def _has_room(self, d: Destination) -> bool:
        return all(
            self.counters[(d.id, p)][0] < self.counters[(d.id, p)][1]
            for p in ("h", "d")
            if (d.id, p) in self.counters
        )

    def _order(self, rule: Rule) -> list[int]:
        n = len(rule.destinations)
        if rule.distribution == RoutingRule.Distribution.SINGLE:
            return list(range(n))
        start = self.rotation[rule.id]
        seq = rule.sequence if rule.distribution == "weighted" else tuple(range(n))
        return list(dict.fromkeys(seq[(start + k) % len(seq)] for k in range(len(seq))))

    def _refusal(self, lead: dict[str, Any], rule: Rule, d: Destination) -> str:
        """Why ``d`` cannot take ``lead`` now; empty when it can."""
        if not d.is_open(self.now):
            return f"{d.workspace_name} is closed now (rule {rule.name})"
        if not self._has_room(d):
            return f"{d.workspace_name} reached its cap (rule {rule.name})"
        partners = self.sold.get(lead["dedupe_hash"], set())
        if d.workspace_is_partner and partners - {d.workspace_id}:
            return f"already sold to another partner; not sold to {d.workspace_name}"
        return ""

    def choose(self, lead: dict[str, Any], matched: list[tuple[Rule, str]]) -> Decision:
        skipped: list[str] = []
        for rule, reason in matched:
            for index in self._order(rule):
                d = rule.destinations[index]
                refusal = self._refusal(lead, rule, d)
                if refusal:
                    skipped.append(refusal)
                    continue
                self._take(lead, rule, d)
                return Decision(
                    lead,
                    RoutingLog.Outcome.ROUTED,
                    f"because {reason}",
                    rule=rule,
                    destination=d,
                    workspace_id=d.workspace_id,
                )
        why = "; ".join(skipped) if skipped else "no active rule matched"
        return Decision(lead, RoutingLog.Outcome.UNROUTED, why)

    def _take(self, lead: dict[str, Any], rule: Rule, d: Destination) -> None:
        for p in ("h", "d"):
            if (d.id, p) in self.counters:
                self.counters[(d.id, p)][0] += 1
        if rule.distribution != RoutingRule.Distribution.SINGLE:
            self.rotation[rule.id] += 1
        if d.workspace_is_partner:
            self.sold.setdefault(lead["dedupe_hash"], set()).add(d.workspace_id)

    def save(self) -> list[Statement]:
        """The statements that write the counters and rotations back."""
        return [
            statement
            for statement in (
                _save_counters(self.counters, self.destinations, self.now),
                _save_rotation(self.rotation, self.rules),
            )
            if statement is not None
        ]


def decide(
    leads: list[dict[str, Any]], rules: tuple[Rule, ...], now: datetime
) -> tuple[list[Decision], list[Statement]]:
    """Match every lead, then allocate destinations under locked caps and counters. Returns
    the decisions and the statements that write the counters and rotations back (for the
    caller to send with its writes, in the same transaction)."""
    matches, touched = _match(leads, rules, now)
    allocator = _Allocator(touched, leads, now)
    decisions = []
    for lead, matched in zip(leads, matches, strict=True):
        if _expired(lead, now):
            when = f"{lead['expires_at']:%Y-%m-%d %H:%M} UTC"
            reason = f"not routed before it expired at {when}"
            decisions.append(Decision(lead, RoutingLog.Outcome.EXPIRED, reason))
        else:
            decisions.append(allocator.choose(lead, matched))
    return decisions, allocator.save()


def _save_counters(
    counters: Counters, destinations: dict[int, Destination], now: datetime
) -> Statement | None:
    if not counters:
        return None
    rows = [
        (dest_id, period, destinations[dest_id].period_starts(now)[period], count)
        for (dest_id, period), (count, _) in counters.items()
    ]
    return (
        "UPDATE routing_capcounter c SET count = k.n FROM unnest(%s::bigint[], "
        "%s::varchar[], %s::timestamptz[], %s::int[]) k(d, p, s, n) "
        "WHERE c.destination_id = k.d AND c.period = k.p AND c.period_start = k.s",
        unnest_columns(rows),
    )


def _save_rotation(rotation: dict[int, int], rules: dict[int, Rule]) -> Statement | None:
    changed = {i: n for i, n in rotation.items() if rules[i].distribution != "single"}
    if not changed:
        return None
    return (
        "UPDATE routing_routingrule r SET rotation = k.n FROM "
        "unnest(%s::bigint[], %s::bigint[]) k(i, n) WHERE r.id = k.i",
        [list(changed), list(changed.values())],
    )
