"""Parallel workers against the real database: no double routing, exact caps and splits."""

import threading
from collections import Counter

import pytest
from django.db import connection

from leads.models import Lead, Workspace
from routing import services
from routing.models import RoutingLog
from tests.routing.factories import make_leads, make_rule

pytestmark = pytest.mark.django_db(transaction=True)


def run_workers(n: int, batch_size: int) -> list[BaseException]:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=20)
            while services.route_pending(worker_id=f"w{i}", batch_size=batch_size).claimed:
                pass
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a worker did not finish in time"
    return errors


def test_eight_workers_respect_a_daily_cap_exactly_and_never_route_twice(workspace):
    capped = Workspace.objects.create(name="Capped", slug="capped")
    make_rule("capped", priority=10, destinations=[{"workspace": capped, "cap_per_day": 1000}])
    make_rule("rest", priority=1, destinations=[{"workspace": workspace}])
    ids = make_leads(workspace, 10_000)

    assert run_workers(8, batch_size=50) == []

    routed = Counter(
        Lead.objects.filter(id__in=ids).values_list("destination_workspace_id", flat=True)
    )
    assert routed[capped.pk] == 1000
    assert routed[workspace.pk] == 9000
    decisions = Counter(RoutingLog.objects.values_list("lead_id", flat=True))
    assert len(decisions) == 10_000 and set(decisions.values()) == {1}
    workers = set(RoutingLog.objects.values_list("worker", flat=True))
    assert len(workers) > 1  # the work really was shared


def test_weighted_three_to_one_split_within_one_percent(workspace):
    a = Workspace.objects.create(name="A", slug="a")
    b = Workspace.objects.create(name="B", slug="b")
    split = [{"workspace": a, "weight": 3}, {"workspace": b, "weight": 1}]
    make_rule("split", distribution="weighted", destinations=split)
    make_leads(workspace, 4000)

    assert run_workers(8, batch_size=50) == []

    routed = Counter(Lead.objects.values_list("destination_workspace_id", flat=True))
    assert routed[a.pk] + routed[b.pk] == 4000
    assert abs(routed[a.pk] / 4000 - 0.75) <= 0.01


def test_a_failed_batch_keeps_its_leads_until_they_are_in_the_retry_queue(workspace, monkeypatch):
    """Another worker passing while a failed batch is being scheduled for retry takes none
    of its leads: they stay row-locked until their retry items are committed with them."""
    from routing.models import RetryItem
    from routing.services import route as route_module

    make_rule("all", destinations=[{"workspace": workspace}])
    ids = make_leads(workspace, 3)

    def broken(*args, **kwargs):
        raise RuntimeError("rules exploded")

    monkeypatch.setattr(route_module, "_decide_reachable", broken)
    real_schedule = route_module.retry_schedule
    other: dict[str, int] = {}

    def schedule(**kwargs):
        if not other:  # once: the other worker's own failure schedules as usual
            other["claimed"] = -1

            def work() -> None:
                try:
                    other["claimed"] = services.route_pending(worker_id="other").claimed
                finally:
                    connection.close()

            thread = threading.Thread(target=work)
            thread.start()
            thread.join(timeout=30)
            assert not thread.is_alive(), "the other worker did not finish in time"
        return real_schedule(**kwargs)

    monkeypatch.setattr(route_module, "retry_schedule", schedule)
    assert services.route_pending(worker_id="first").failed == 3
    assert other["claimed"] == 0
    assert sorted(RetryItem.objects.values_list("lead_id", flat=True)) == ids
    assert set(Lead.objects.filter(id__in=ids).values_list("status", flat=True)) == {"pending"}
