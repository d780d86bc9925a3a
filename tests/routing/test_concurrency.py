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
