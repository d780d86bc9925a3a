"""Routing: claim pending leads, decide set-wise, write every decision with its reason.

Two workers never route the same lead: a worker claims leads with ``FOR UPDATE SKIP
LOCKED`` (marking ``locked_by``/``locked_at``), and its decision is written only for the
leads it still holds. Caps and rotation counters are row-locked in a fixed order (rules,
then counters, by id) inside the decision transaction, so they are exact under any
number of workers and cannot deadlock.
"""

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from broadcast import services as broadcast_services
from core.backoff import jittered_backoff
from core.db import json_value
from core.errors import ApplicationError
from dialer import services as dialer_services
from leads.models import Lead, LeadEvent, Workspace
from leads.services import EventSpec, lead_events_record
from routing.engine import Destination, Rule, compile_rules
from routing.models import RetryItem, RoutingLog, RoutingRule, RulesVersion

logger = logging.getLogger(__name__)

LEAD_COLUMNS = (
    "id",
    "created_at",
    "workspace_id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "company",
    "industry",
    "state",
    "postal_code",
    "timezone",
    "source",
    "external_id",
    "status",
    "custom",
    "dedupe_hash",
    "expires_at",
    "vici_list_id",
)

_memo: dict[str, Any] = {"version": None, "rules": ()}


# --- rules cache ---------------------------------------------------------------------------


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


def active_rules() -> tuple[Rule, ...]:
    """Compiled active rules; one cheap query checks the version, so never stale."""
    version = RulesVersion.objects.filter(pk=1).values_list("version", flat=True).first()
    if version is None or _memo["version"] != version:
        _memo["rules"] = compile_rules(RoutingRule.objects.filter(is_active=True))
        _memo["version"] = version
    return _memo["rules"]


# --- claiming ------------------------------------------------------------------------------


def leads_claim_pending(
    *, worker_id: str, batch_size: int, lead_ids: list[int] | None = None
) -> list[dict[str, Any]]:
    """Claim up to ``batch_size`` pending leads (or the given ones) for this worker."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.ROUTING_LOCK_TIMEOUT_SECONDS)
    filters = "l.status = 'pending' AND (l.locked_at IS NULL OR l.locked_at < %s)"
    params: list[Any] = [stale]
    if lead_ids is not None:
        filters += " AND l.id = ANY(%s)"
        params.append(lead_ids)
    else:
        # Leads waiting in the retry queue are the retry drain's, not the sweeper's.
        filters += " AND NOT EXISTS (SELECT 1 FROM routing_retryitem r WHERE r.lead_id = l.id)"
    columns = ", ".join(f"l.{c}" for c in LEAD_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH picked AS (
                SELECT l.id, l.created_at FROM leads_lead l WHERE {filters}
                ORDER BY l.created_at LIMIT %s FOR UPDATE SKIP LOCKED
            )
            UPDATE leads_lead l SET locked_by = %s, locked_at = %s
            FROM picked WHERE l.id = picked.id AND l.created_at = picked.created_at
            RETURNING {columns}
            """,
            [*params, batch_size, worker_id, now],
        )
        rows = [dict(zip(LEAD_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["custom"] = json_value(row["custom"])
    return sorted(rows, key=lambda r: (r["created_at"], r["id"]))


# --- deciding ------------------------------------------------------------------------------


@dataclass
class Decision:
    lead: dict[str, Any]
    outcome: str
    reason: str
    rule: Rule | None = None
    destination: Destination | None = None
    workspace_id: int | None = None


@dataclass
class RouteStats:
    claimed: int = 0
    routed: int = 0
    unrouted: int = 0
    expired: int = 0
    failed: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)


def _lock_rules(rule_ids: list[int]) -> dict[int, int]:
    if not rule_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, rotation FROM routing_routingrule WHERE id = ANY(%s) ORDER BY id "
            "FOR UPDATE",
            [sorted(rule_ids)],
        )
        return dict(cursor.fetchall())


def _lock_counters(
    destinations: list[Destination], now: datetime
) -> dict[tuple[int, str], list[int]]:
    """Lock (creating when missing) the hour/day counters; returns [count, cap] by key."""
    keys = []
    for d in destinations:
        starts = d.period_starts(now)
        if d.cap_per_hour is not None:
            keys.append((d.id, "h", starts["h"], d.cap_per_hour))
        if d.cap_per_day is not None:
            keys.append((d.id, "d", starts["d"], d.cap_per_day))
    if not keys:
        return {}
    keys.sort(key=lambda k: (k[0], k[1]))
    ids, periods, starts_, caps = (list(x) for x in zip(*keys, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO routing_capcounter (destination_id, period, period_start, count) "
            "SELECT * FROM unnest(%s::bigint[], %s::varchar[], %s::timestamptz[], "
            "array_fill(0, ARRAY[%s])) ON CONFLICT DO NOTHING",
            [ids, periods, starts_, len(ids)],
        )
        cursor.execute(
            "SELECT c.destination_id, c.period, c.count FROM routing_capcounter c "
            "JOIN unnest(%s::bigint[], %s::varchar[], %s::timestamptz[]) k(d, p, s) "
            "ON c.destination_id = k.d AND c.period = k.p AND c.period_start = k.s "
            "ORDER BY c.destination_id, c.period FOR UPDATE OF c",
            [ids, periods, starts_],
        )
        counts = {(d, p): n for d, p, n in cursor.fetchall()}
    return {(d, p): [counts[(d, p)], cap] for d, p, _, cap in keys}


def _partner_sales(hashes: list[str], window_start: datetime) -> dict[str, set[int]]:
    """Which partner workspaces each dedupe hash was already routed to (in the window)."""
    if not hashes:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.dedupe_hash, l.destination_workspace_id FROM leads_lead l "
            "JOIN leads_workspace w ON w.id = l.destination_workspace_id "
            "WHERE l.dedupe_hash = ANY(%s) AND w.kind = 'partner' AND l.routed_at >= %s",
            [hashes, window_start],
        )
        sold: dict[str, set[int]] = defaultdict(set)
        for hash_, workspace_id in cursor.fetchall():
            sold[hash_].add(workspace_id)
    return sold


def _decide(leads: list[dict[str, Any]], rules: tuple[Rule, ...], now: datetime) -> list[Decision]:
    """Match every lead, then allocate destinations under locked caps and counters."""
    matches: list[list[tuple[Rule, str]]] = []
    touched_rules: dict[int, Rule] = {}
    for lead in leads:
        matched = []
        if not (lead["expires_at"] and lead["expires_at"] <= now):
            for rule in rules:
                reason = rule.match(lead, now)
                if reason is not None and rule.destinations:
                    matched.append((rule, reason))
                    touched_rules[rule.id] = rule
        matches.append(matched)

    rotation = _lock_rules(list(touched_rules))
    destinations = {d.id: d for r in touched_rules.values() for d in r.destinations}
    counters = _lock_counters(sorted(destinations.values(), key=lambda d: d.id), now)
    window = now - timedelta(days=settings.DEDUPE_WINDOW_DAYS)
    needs_partner_check = any(d.workspace_is_partner for d in destinations.values())
    hashes = [lead["dedupe_hash"] for lead in leads]
    sold = _partner_sales(hashes, window) if needs_partner_check else {}

    def has_room(d: Destination) -> bool:
        return all(
            counters[(d.id, p)][0] < counters[(d.id, p)][1]
            for p in ("h", "d")
            if (d.id, p) in counters
        )

    def take(d: Destination) -> None:
        for p in ("h", "d"):
            if (d.id, p) in counters:
                counters[(d.id, p)][0] += 1

    decisions = []
    for lead, matched in zip(leads, matches, strict=True):
        if lead["expires_at"] and lead["expires_at"] <= now:
            when = f"{lead['expires_at']:%Y-%m-%d %H:%M} UTC"
            decisions.append(
                Decision(
                    lead, RoutingLog.Outcome.EXPIRED, f"not routed before it expired at {when}"
                )
            )
            continue
        skipped: list[str] = []
        chosen = None
        for rule, reason in matched:
            n = len(rule.destinations)
            if rule.distribution == RoutingRule.Distribution.SINGLE:
                order = list(range(n))
            else:
                start = rotation[rule.id]
                seq = rule.sequence if rule.distribution == "weighted" else tuple(range(n))
                order = [seq[(start + k) % len(seq)] for k in range(len(seq))]
                order = list(dict.fromkeys(order))
            for index in order:
                d = rule.destinations[index]
                if not d.is_open(now):
                    skipped.append(f"{d.workspace_name} is closed now (rule {rule.name})")
                    continue
                if not has_room(d):
                    skipped.append(f"{d.workspace_name} reached its cap (rule {rule.name})")
                    continue
                partners = sold.get(lead["dedupe_hash"], set())
                if d.workspace_is_partner and partners - {d.workspace_id}:
                    skipped.append(
                        f"already sold to another partner; not sold to {d.workspace_name}"
                    )
                    continue
                chosen = (rule, reason, d)
                break
            if chosen:
                break
        if chosen is None:
            why = "; ".join(skipped) if skipped else "no active rule matched"
            decisions.append(Decision(lead, RoutingLog.Outcome.UNROUTED, why))
            continue
        rule, reason, d = chosen
        take(d)
        if rule.distribution != RoutingRule.Distribution.SINGLE:
            rotation[rule.id] += 1
        if d.workspace_is_partner:
            sold.setdefault(lead["dedupe_hash"], set()).add(d.workspace_id)
        decisions.append(
            Decision(
                lead,
                RoutingLog.Outcome.ROUTED,
                f"because {reason}",
                rule=rule,
                destination=d,
                workspace_id=d.workspace_id,
            )
        )

    _save_counters(counters, destinations, now)
    _save_rotation(rotation, touched_rules)
    return decisions


def _save_counters(counters, destinations, now) -> None:
    if not counters:
        return
    rows = []
    for (dest_id, period), (count, _) in counters.items():
        rows.append((dest_id, period, destinations[dest_id].period_starts(now)[period], count))
    ids, periods, starts, counts = (list(x) for x in zip(*rows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE routing_capcounter c SET count = k.n FROM unnest(%s::bigint[], "
            "%s::varchar[], %s::timestamptz[], %s::int[]) k(d, p, s, n) "
            "WHERE c.destination_id = k.d AND c.period = k.p AND c.period_start = k.s",
            [ids, periods, starts, counts],
        )


def _save_rotation(rotation: dict[int, int], rules: dict[int, Rule]) -> None:
    changed = {i: n for i, n in rotation.items() if rules[i].distribution != "single"}
    if not changed:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE routing_routingrule r SET rotation = k.n FROM "
            "unnest(%s::bigint[], %s::bigint[]) k(i, n) WHERE r.id = k.i",
            [list(changed), list(changed.values())],
        )


def _fallback_workspace() -> Workspace | None:
    slug = settings.ROUTING_FALLBACK_WORKSPACE
    return Workspace.objects.filter(slug=slug).first() if slug else None


def _write(decisions: list[Decision], *, worker_id: str, now: datetime, started: float) -> None:
    """Write all decisions of a batch set-wise: leads, routing log, events, enqueues."""
    fallback = _fallback_workspace()
    ids, statuses, reasons, dest_ws, rule_ids, routed_at = [], [], [], [], [], []
    logs, events = [], []
    adds: dict[int, list[int]] = defaultdict(list)
    moves: dict[int, list[int]] = defaultdict(list)
    enroll: dict[int, list[int]] = defaultdict(list)
    duration = (time.perf_counter() - started) * 1000 / max(1, len(decisions))
    for dec in decisions:
        lead_id = dec.lead["id"]
        outcome, workspace_id = dec.outcome, dec.workspace_id
        if outcome == RoutingLog.Outcome.UNROUTED and fallback is not None:
            outcome, workspace_id = RoutingLog.Outcome.FALLBACK, fallback.pk
        status = {
            RoutingLog.Outcome.ROUTED: Lead.Status.ROUTED,
            RoutingLog.Outcome.FALLBACK: Lead.Status.ROUTED,
            RoutingLog.Outcome.UNROUTED: Lead.Status.UNROUTED,
            RoutingLog.Outcome.EXPIRED: Lead.Status.EXPIRED,
        }[outcome]
        ids.append(lead_id)
        statuses.append(status)
        reasons.append(dec.reason[:255])
        dest_ws.append(workspace_id)
        rule_ids.append(dec.rule.id if dec.rule else None)
        routed_at.append(now if workspace_id else None)
        logs.append(
            RoutingLog(
                created_at=now,
                lead_id=lead_id,
                rule_id=dec.rule.id if dec.rule else None,
                rule_name=dec.rule.name if dec.rule else "",
                destination_workspace_id=workspace_id,
                outcome=outcome,
                reason=dec.reason,
                duration_ms=duration,
                worker=worker_id,
            )
        )
        if outcome == RoutingLog.Outcome.ROUTED:
            d = dec.destination
            message = f"Routed to {d.workspace_name} by rule {dec.rule.name} {dec.reason}"
            kind = LeadEvent.Kind.ROUTED
            data = {
                "rule_id": dec.rule.id,
                "rule_name": dec.rule.name,
                "destination": d.workspace_name,
                "destination_workspace_id": d.workspace_id,
                "reason": dec.reason,
            }
            if d.vici_list_id:
                old = dec.lead["vici_list_id"]
                (moves if old else adds)[d.vici_list_id].append(lead_id)
            if d.sequence_id:
                enroll[d.sequence_id].append(lead_id)
        elif outcome == RoutingLog.Outcome.FALLBACK:
            kind = LeadEvent.Kind.ROUTED
            message = f"No rule took it ({dec.reason}); sent to fallback {fallback.name}"
            data = {"destination": fallback.name, "reason": dec.reason, "fallback": True}
        elif outcome == RoutingLog.Outcome.EXPIRED:
            kind, message, data = LeadEvent.Kind.EXPIRED, f"Expired: {dec.reason}", {}
        else:
            kind, message = LeadEvent.Kind.UNROUTED, f"Not routed: {dec.reason}"
            data = {"reason": dec.reason}
        events.append(
            EventSpec(
                lead_id=lead_id,
                kind=kind,
                message=message,
                data=data,
                actor=f"routing:{worker_id}",
                at=now,
            )
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE leads_lead l SET status = k.status, status_reason = k.reason, "
            "destination_workspace_id = k.ws, routing_rule_id = k.rule, routed_at = k.routed, "
            "locked_by = '', locked_at = NULL, updated_at = %s, "
            "routing_attempts = l.routing_attempts + 1 "
            "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::bigint[], "
            "%s::bigint[], %s::timestamptz[]) k(id, status, reason, ws, rule, routed) "
            "WHERE l.id = k.id",
            [now, ids, statuses, reasons, dest_ws, rule_ids, routed_at],
        )
    RoutingLog.objects.bulk_create(logs, batch_size=2000)
    lead_events_record(events=events)
    for list_id, lead_ids in adds.items():
        dialer_services.outbox_enqueue_add(lead_ids=lead_ids, vici_list_id=list_id)
    for list_id, lead_ids in moves.items():
        dialer_services.outbox_enqueue_move(lead_ids=lead_ids, vici_list_id=list_id)
    for sequence_id, lead_ids in enroll.items():
        try:
            broadcast_services.enrollment_create_many(
                lead_ids=lead_ids, sequence_id=sequence_id, actor=f"routing:{worker_id}"
            )
        except ApplicationError as exc:  # a sequence without devices must not block routing
            logger.error("routing could not enroll in sequence %s: %s", sequence_id, exc)
            lead_events_record(
                events=[
                    EventSpec(
                        lead_id=lead_id,
                        kind=LeadEvent.Kind.ENROLLMENT_STOPPED,
                        message=f"Not enrolled: {exc.message}",
                        actor=f"routing:{worker_id}",
                        data={"sequence_id": sequence_id},
                    )
                    for lead_id in lead_ids
                ]
            )


def route_pending(
    *, worker_id: str, batch_size: int | None = None, lead_ids: list[int] | None = None
) -> RouteStats:
    """Claim a batch and route it. A failure sends the batch to the retry queue."""
    batch_size = batch_size or settings.ROUTING_BATCH_SIZE
    with transaction.atomic():
        claimed = leads_claim_pending(worker_id=worker_id, batch_size=batch_size, lead_ids=lead_ids)
    stats = RouteStats(claimed=len(claimed))
    if not claimed:
        return stats
    started = time.perf_counter()
    try:
        with transaction.atomic():
            now = timezone.now()
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM leads_lead WHERE id = ANY(%s) AND locked_by = %s "
                    "AND status = 'pending' FOR UPDATE",
                    [[lead["id"] for lead in claimed], worker_id],
                )
                held = {row[0] for row in cursor.fetchall()}
            leads = [lead for lead in claimed if lead["id"] in held]
            decisions = _decide(leads, active_rules(), now)
            _write(decisions, worker_id=worker_id, now=now, started=started)
            RetryItem.objects.filter(lead_id__in=[lead["id"] for lead in leads]).delete()
    except Exception as exc:  # noqa: BLE001 - any failure of a batch goes to the retry queue
        logger.exception("routing batch failed; %s leads to the retry queue", len(claimed))
        stats.failed = retry_schedule(lead_ids=[lead["id"] for lead in claimed], error=repr(exc))
        return stats
    for dec in decisions:
        stats.outcomes[dec.lead["id"]] = dec.outcome
        if dec.outcome == RoutingLog.Outcome.ROUTED:
            stats.routed += 1
        elif dec.outcome == RoutingLog.Outcome.EXPIRED:
            stats.expired += 1
        else:
            stats.unrouted += 1
    return stats


def route_until_empty(*, worker_id: str, seconds: float = 50.0) -> int:
    """Route batches until nothing is pending or the time budget is spent."""
    deadline = time.monotonic() + seconds
    total = 0
    while time.monotonic() < deadline:
        stats = route_pending(worker_id=worker_id)
        total += stats.claimed
        if stats.claimed == 0:
            break
    return total


# --- retries -------------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """Up to 30 s x 2^(attempts-1) with jitter, capped at 1 h."""
    return jittered_backoff(attempts, base=30.0)


def retry_schedule(*, lead_ids: list[int], error: str) -> int:
    """Put failed leads in the retry queue; past the maximum attempts they are failed."""
    now = timezone.now()
    with transaction.atomic():
        existing = {
            r.lead_id: r for r in RetryItem.objects.select_for_update().filter(lead_id__in=lead_ids)
        }
        dead, to_create, to_update = [], [], []
        for lead_id in lead_ids:
            item = existing.get(lead_id) or RetryItem(lead_id=lead_id, attempts=0)
            item.attempts += 1
            item.last_error = error[:5000]
            item.next_retry_at = now + retry_delay(item.attempts)
            item.updated_at = now
            if item.attempts >= settings.ROUTING_MAX_ATTEMPTS:
                item.is_dead = True
                dead.append(lead_id)
            (to_update if item.pk else to_create).append(item)
        RetryItem.objects.bulk_create(to_create)
        RetryItem.objects.bulk_update(
            to_update, ["attempts", "last_error", "next_retry_at", "is_dead", "updated_at"]
        )
        Lead.objects.filter(id__in=lead_ids).update(locked_by="", locked_at=None)
        if dead:
            Lead.objects.filter(id__in=dead, status=Lead.Status.PENDING).update(
                status=Lead.Status.FAILED, status_reason=error[:255], updated_at=now
            )
            lead_events_record(
                events=[
                    EventSpec(
                        lead_id=i,
                        kind=LeadEvent.Kind.ROUTING_FAILED,
                        message=f"Routing failed {settings.ROUTING_MAX_ATTEMPTS} times: {error}",
                        data={"error": error},
                        actor="routing",
                    )
                    for i in dead
                ]
            )
    return len(lead_ids)


def retry_drain(*, worker_id: str, limit: int = 1000) -> int:
    """Route the leads whose retry time has come."""
    due = list(
        RetryItem.objects.filter(is_dead=False, next_retry_at__lte=timezone.now())
        .order_by("next_retry_at")
        .values_list("lead_id", flat=True)[:limit]
    )
    if due:
        route_pending(worker_id=worker_id, lead_ids=due, batch_size=len(due))
    return len(due)


def retry_now(*, lead_ids: list[int], actor: str = "") -> int:
    """Admin "retry now": failed leads back to pending, routed on the next drain."""
    now = timezone.now()
    with transaction.atomic():
        RetryItem.objects.filter(lead_id__in=lead_ids).update(
            is_dead=False, attempts=0, next_retry_at=now, updated_at=now
        )
        count = Lead.objects.filter(id__in=lead_ids, status=Lead.Status.FAILED).update(
            status=Lead.Status.PENDING,
            status_reason="",
            locked_by="",
            locked_at=None,
            updated_at=now,
        )
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=i,
                    kind=LeadEvent.Kind.STATUS_CHANGED,
                    message="Routing retried by hand",
                    actor=actor,
                )
                for i in lead_ids
            ]
        )
    return count


def lead_reroute(*, lead: Lead, actor: str = "") -> Lead:
    """Send a lead through routing again (a new destination may move it in VICIdial)."""
    now = timezone.now()
    with transaction.atomic():
        Lead.objects.filter(pk=lead.pk, created_at=lead.created_at).update(
            status=Lead.Status.PENDING,
            status_reason="reroute requested",
            locked_by="",
            locked_at=None,
            expires_at=None,
            updated_at=now,
        )
        RetryItem.objects.filter(lead_id=lead.pk).delete()
        lead_events_record(
            events=[
                EventSpec(
                    lead_id=lead.pk,
                    kind=LeadEvent.Kind.STATUS_CHANGED,
                    message="Sent back to routing (reroute)",
                    actor=actor,
                    data={"from": lead.status, "to": Lead.Status.PENDING},
                )
            ]
        )
    lead.refresh_from_db()
    return lead


# --- rule management -----------------------------------------------------------------------


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


def _validated(model_instance) -> None:
    from django.core.exceptions import ValidationError

    try:
        model_instance.full_clean(exclude=["rule"])
    except ValidationError as exc:
        raise ApplicationError("Invalid rule.", code="invalid", errors=exc.message_dict)


def rule_save(
    *,
    rule: RoutingRule | None,
    data: dict[str, Any],
    conditions: list[dict[str, Any]] | None,
    destinations: list[dict[str, Any]] | None,
    workspaces: list[Workspace] | None,
) -> RoutingRule:
    """Create or update a rule; given nested lists replace the existing ones."""
    from routing.models import RuleCondition, RuleDestination

    errors: dict[str, Any] = {}
    built_conditions = [RuleCondition(**c) for c in conditions or []]
    built_destinations = [RuleDestination(**d) for d in destinations or []]
    for name, items in (("conditions", built_conditions), ("destinations", built_destinations)):
        problems = {}
        for index, item in enumerate(items):
            try:
                _validated(item)
            except ApplicationError as exc:
                problems[index] = exc.errors
        if problems:
            errors[name] = problems
    if errors:
        raise ApplicationError("Invalid rule.", code="invalid", errors=errors)
    with transaction.atomic():
        rule = rule or RoutingRule()
        for key, value in data.items():
            setattr(rule, key, value)
        rule.save()
        if workspaces is not None:
            rule.workspaces.set(workspaces)
        if conditions is not None:
            rule.conditions.all().delete()
            for item in built_conditions:
                item.rule = rule
            RuleCondition.objects.bulk_create(built_conditions)
        if destinations is not None:
            rule.destinations.all().delete()
            for item in built_destinations:
                item.rule = rule
            RuleDestination.objects.bulk_create(built_destinations)
        rules_version_bump()
    return rule
