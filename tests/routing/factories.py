from leads.services import lead_ingest_batch
from routing.models import RoutingRule, RuleCondition, RuleDestination

_counter = {"n": 0}


def make_leads(workspace, n: int, **fields) -> list[int]:
    """Pending leads through the real intake (COPY), each with a unique phone."""
    start = _counter["n"]
    _counter["n"] += n
    rows = [
        {
            "phone": f"+1{415 + (i // 7_000_000) % 400:03d}{200 + (i // 10_000) % 700:03d}"
            f"{i % 10_000:04d}",
            **fields,
        }
        for i in range(start, start + n)
    ]
    ids = []
    for chunk in range(0, n, 1000):
        results = lead_ingest_batch(workspace=workspace, rows=rows[chunk : chunk + 1000])
        ids += [r.id for r in results]
    return ids


def make_rule(name="rule", *, priority=100, destinations=(), conditions=(), **kwargs):
    rule = RoutingRule.objects.create(name=name, priority=priority, **kwargs)
    for fields in conditions:
        RuleCondition.objects.create(rule=rule, **fields)
    for fields in destinations:
        RuleDestination.objects.create(rule=rule, **fields)
    return rule
