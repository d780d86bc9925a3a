"""Intake wakes routing once per short window, not once per lead; reroute wakes it too."""

import pytest

from leads.models import Lead
from routing import services, tasks
from tests.routing.factories import make_leads, make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def woken(monkeypatch):
    calls = []

    class Task:
        def apply_async(self, **kwargs):
            calls.append(kwargs)

    monkeypatch.setattr(tasks, "route_woken_task", Task())
    monkeypatch.setattr(tasks, "_last_wake", 0.0)
    return calls


def test_many_intake_batches_in_one_window_wake_routing_once(
    workspace, woken, settings, django_capture_on_commit_callbacks
):
    settings.ROUTING_WAKE_SECONDS = 5.0
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(10):
            tasks._last_wake = 0.0  # as if each batch came through another web process
            make_leads(workspace, 3)
    assert woken == [{"countdown": 5.0}]  # one task, run when the window is over


def test_the_woken_task_routes_every_pending_lead(workspace, settings):
    settings.ROUTING_LINGER_SECONDS = 0
    make_rule("all", destinations=[{"workspace": workspace}])
    ids = make_leads(workspace, 30)
    assert tasks.route_woken_task() == 30
    assert set(Lead.objects.filter(id__in=ids).values_list("status", flat=True)) == {"routed"}


def test_a_reroute_wakes_routing(api_client, workspace, woken, django_capture_on_commit_callbacks):
    make_rule("all", destinations=[{"workspace": workspace}])
    [lead_id] = make_leads(workspace, 1)
    services.route_pending(worker_id="t")
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.post(f"/api/v1/leads/{lead_id}/reroute/").status_code == 200
    assert len(woken) == 1


@pytest.mark.django_db(transaction=True)
def test_a_lingering_task_routes_what_arrives_and_a_lead_after_it_wakes_a_new_one(
    workspace, woken, settings
):
    """While the woken task stays, intake sends no task and the task routes what comes;
    once it has left, the next lead wakes a new task."""
    import threading
    import time

    from celery import current_app
    from django.db import connection

    settings.ROUTING_LINGER_SECONDS = 5.0  # a busy machine's pauses between batches
    settings.ROUTING_WAKE_SECONDS = 0.05
    make_rule("all", destinations=[{"workspace": workspace}])
    result: list[int] = []

    def run() -> None:
        try:
            result.append(current_app.tasks["routing.tasks.route_woken_task"]())
        finally:
            connection.close()

    def routed(ids: list[int]) -> None:
        while Lead.objects.filter(id__in=ids, status="pending").exists():
            assert time.monotonic() < deadline, "the lingering task did not route them"
            time.sleep(0.02)

    deadline = time.monotonic() + 20
    waiting = make_leads(workspace, 4)  # there when the task starts: it finds work and stays
    sent = len(woken)  # intake's wake for them (the task below plays the one it sent)
    task = threading.Thread(target=run)
    task.start()
    routed(waiting)
    for _ in range(2):  # two more intake batches while the task stays
        routed(make_leads(workspace, 4))  # committed: transactional test; wakes routing
    assert len(woken) == sent  # the key was held: intake sent nothing more
    task.join(timeout=20)
    assert not task.is_alive() and result == [12]
    make_leads(workspace, 1)  # after the task left: a new one is sent
    assert len(woken) == sent + 1


def _timed_passes(monkeypatch, workspace, arriving: int) -> tuple[list[int], list[float]]:
    """Records each pass's claims and start; ``arriving`` leads come during the first."""
    import time

    passes: list[int] = []
    starts: list[float] = []
    real = services.route_pending

    def route_pending(**kwargs):
        starts.append(time.monotonic())
        outcome = real(**kwargs)
        passes.append(outcome.claimed)
        if len(passes) == 1 and arriving:
            make_leads(workspace, arriving)
        return outcome

    monkeypatch.setattr(services, "route_pending", route_pending)
    return passes, starts


def test_leads_arriving_during_a_pass_are_routed_by_the_next_one_a_pass_gap_later(
    workspace, settings, monkeypatch
):
    """A pass that found fewer than a batch is followed by another a pass gap after it
    began: what came meanwhile waits about a gap, not a wake window, and a trickle of leads
    is routed a gap's worth at a time (a pass costs about as much for 4 leads as for 16)."""
    import time

    settings.ROUTING_PASS_GAP_SECONDS = 0.3
    settings.ROUTING_WAKE_SECONDS = 5.0  # a window the test would notice
    settings.ROUTING_LINGER_SECONDS = 0
    make_rule("all", destinations=[{"workspace": workspace}])
    make_leads(workspace, 3)
    passes, starts = _timed_passes(monkeypatch, workspace, arriving=2)
    started = time.monotonic()
    assert tasks.route_woken_task() == 5
    assert passes[:3] == [3, 2, 0]  # the second pass took the newcomers
    assert starts[1] - starts[0] >= settings.ROUTING_PASS_GAP_SECONDS
    assert time.monotonic() - started < settings.ROUTING_WAKE_SECONDS  # no window slept
    statuses = set(Lead.objects.filter(workspace=workspace).values_list("status", flat=True))
    assert statuses == {"routed"}


def test_after_a_full_batch_the_next_pass_starts_at_once(workspace, settings, monkeypatch):
    settings.ROUTING_PASS_GAP_SECONDS = 5.0  # a gap the test would notice
    settings.ROUTING_BATCH_SIZE = 3
    settings.ROUTING_LINGER_SECONDS = 0
    make_rule("all", destinations=[{"workspace": workspace}])
    make_leads(workspace, 6)
    passes, starts = _timed_passes(monkeypatch, workspace, arriving=0)
    assert tasks.route_woken_task() == 6
    assert passes[:2] == [3, 3]
    assert starts[1] - starts[0] < settings.ROUTING_PASS_GAP_SECONDS


def test_a_task_woken_while_another_stays_does_one_pass_and_leaves(workspace, settings):
    from django.core.cache import cache

    settings.ROUTING_LINGER_SECONDS = 0
    make_rule("all", destinations=[{"workspace": workspace}])
    ids = make_leads(workspace, 5)
    cache.set_many({tasks.RUNNER_KEY: "the staying one", tasks.WAKE_KEY: 1}, timeout=30)
    assert tasks.route_woken_task() == 5
    assert set(Lead.objects.filter(id__in=ids).values_list("status", flat=True)) == {"routed"}
    # It left the staying task's keys alone (it neither took over nor freed intake's wake).
    assert cache.get(tasks.RUNNER_KEY) == "the staying one" and cache.get(tasks.WAKE_KEY) == 1


def test_a_task_woken_for_nothing_leaves_at_once(db, settings):
    """Wakes queued while a task stayed find nothing when they run: they must not each
    stay for the linger (thousands queued by a sustained run would take hours)."""
    from django.core.cache import cache

    settings.ROUTING_LINGER_SECONDS = 3600  # would hang the test if it lingered
    assert tasks.route_woken_task() == 0
    assert cache.get(tasks.RUNNER_KEY) is None and cache.get(tasks.WAKE_KEY) is None


def test_a_sent_task_not_started_yet_keeps_intake_from_sending_more(
    workspace, woken, settings, django_capture_on_commit_callbacks
):
    """A task queued behind a busy worker starts long after its window: until it has run
    and left, intake sends no other (a sustained run had queued thousands)."""
    import time

    settings.ROUTING_WAKE_SECONDS = 0.05
    with django_capture_on_commit_callbacks(execute=True):
        make_leads(workspace, 2)
    time.sleep(0.2)  # four windows later; the sent task has not run
    with django_capture_on_commit_callbacks(execute=True):
        tasks._last_wake = 0.0  # another web process
        make_leads(workspace, 2)
    assert woken == [{"countdown": 0.05}]


class CountingCache:
    """The real cache, with when each ``add`` and ``delete_many`` was called."""

    def __init__(self, real) -> None:
        self.real = real
        self.adds: list[float] = []
        self.deletes: list[float] = []

    def add(self, *args, **kwargs):
        import time

        self.adds.append(time.monotonic())
        return self.real.add(*args, **kwargs)

    def delete_many(self, *args, **kwargs):
        import time

        self.real.delete_many(*args, **kwargs)
        self.deletes.append(time.monotonic())

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_process_that_found_the_key_taken_asks_again_only_half_a_window_later(
    db, woken, settings, monkeypatch
):
    """Under steady intake a web process asks Redis about twice a window, not once per
    batch; once the task has left, it wakes a new one."""
    import time

    from django.core.cache import cache

    settings.ROUTING_WAKE_SECONDS = 2.0
    spy = CountingCache(tasks.cache)
    monkeypatch.setattr(tasks, "cache", spy)
    cache.set(tasks.WAKE_KEY, 1, timeout=30)  # a task stays
    for _ in range(5):
        tasks.routing_wake()
    assert len(spy.adds) == 1 and woken == []
    time.sleep(1.0)  # half a window
    tasks.routing_wake()
    assert len(spy.adds) == 2 and woken == []
    cache.delete(tasks.WAKE_KEY)  # the task left
    time.sleep(1.0)
    tasks.routing_wake()
    assert woken == [{"countdown": 2.0}]


def test_a_leaving_task_makes_its_last_pass_half_a_window_after_freeing_the_key(
    workspace, settings, monkeypatch
):
    """So the last pass also routes what a process committed without asking (it had found
    the key taken less than half a window before)."""
    import time

    settings.ROUTING_WAKE_SECONDS = 0.4
    settings.ROUTING_LINGER_SECONDS = 0
    make_rule("all", destinations=[{"workspace": workspace}])
    make_leads(workspace, 2)
    spy = CountingCache(tasks.cache)
    monkeypatch.setattr(tasks, "cache", spy)
    last_pass: list[float] = []
    real = services.route_until_empty

    def route_until_empty(**kwargs):
        last_pass.append(time.monotonic())
        return real(**kwargs)

    monkeypatch.setattr(services, "route_until_empty", route_until_empty)
    freed = spy.delete_many

    def delete_many(*args, **kwargs):
        freed(*args, **kwargs)
        make_leads(workspace, 1)  # committed just after the key was freed

    monkeypatch.setattr(spy, "delete_many", delete_many)
    assert tasks.route_woken_task() == 3
    assert last_pass[-1] - spy.deletes[-1] >= settings.ROUTING_WAKE_SECONDS / 2
    statuses = set(Lead.objects.filter(workspace=workspace).values_list("status", flat=True))
    assert statuses == {"routed"}
