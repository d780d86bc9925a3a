"""core.group_commit: callers arriving while a batch runs share the next one; each gets its
own result; a failing batch falls back to each item alone; keys never wait for each other;
the work after a batch never holds up the next."""

import threading
import time

import pytest

from core.group_commit import GroupCommit

WAIT = 10  # seconds: bounded waits, never a sleep that hopes


def wait_until(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


class Gate:
    """A ``run`` whose first batch blocks until released; records every batch."""

    def __init__(self, fail_with=None):
        self.started = threading.Event()
        self.release = threading.Event()
        self.batches: list[list] = []
        self.fail_with = fail_with

    def __call__(self, key, items):
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.started.set()
            assert self.release.wait(WAIT)
        if self.fail_with and len(items) > 1 and self.fail_with in items:
            raise ValueError(f"bad item in {items}")
        if self.fail_with and items == [self.fail_with]:
            raise ValueError("bad item alone")
        return [f"{key}:{item}" for item in items]


def submit_in_threads(group, key, items):
    results, errors = {}, {}

    def call(item):
        try:
            results[item] = group.submit(key, item)
        except Exception as exc:  # noqa: BLE001 (the test reads it)
            errors[item] = exc

    threads = [threading.Thread(target=call, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    return threads, results, errors


def queued_behind_a_running_batch(group, run, items):
    """ "a" runs alone and is held; ``items`` arrive meanwhile and queue; then "a" ends.
    Returns (first's results, the others' results, their exceptions) once all are done."""
    first, first_results, _ = submit_in_threads(group, "ws", ["a"])
    assert run.started.wait(WAIT)
    threads, results, errors = submit_in_threads(group, "ws", items)
    wait_until(lambda: len(group._queues.get("ws", [])) == len(items), "the callers to queue")
    run.release.set()
    for thread in first + threads:
        thread.join(WAIT)
    return first_results, results, errors


def test_an_idle_caller_runs_alone_and_at_once():
    calls = []
    group = GroupCommit(lambda key, items: calls.append(items) or [i * 2 for i in items])
    assert group.submit("k", 21) == 42
    assert calls == [[21]]


def test_callers_arriving_during_a_batch_share_the_next_each_with_its_result():
    run = Gate()
    group = GroupCommit(run)
    first_results, results, errors = queued_behind_a_running_batch(group, run, list("bcde"))
    assert not errors
    assert first_results == {"a": "ws:a"}
    assert results == {item: f"ws:{item}" for item in "bcde"}
    assert run.batches[0] == ["a"]
    assert sorted(run.batches[1]) == ["b", "c", "d", "e"] and len(run.batches) == 2
    assert (group.batches, group.items) == (2, 5)
    assert not group._queues and not group._running


def test_a_batch_is_at_most_max_items_and_the_rest_follows():
    run = Gate()
    group = GroupCommit(run, max_items=2)
    _, results, errors = queued_behind_a_running_batch(group, run, list("bcd"))
    assert not errors and results == {item: f"ws:{item}" for item in "bcd"}
    assert [len(batch) for batch in run.batches] == [1, 2, 1]


def test_a_failing_batch_falls_back_to_each_item_alone():
    run = Gate(fail_with="bad")
    group = GroupCommit(run)
    _, results, errors = queued_behind_a_running_batch(group, run, ["b", "bad", "c"])
    # The good items get their results, the bad one its own exception (the one it would
    # have had alone), nobody waits forever.
    assert results == {"b": "ws:b", "c": "ws:c"}
    assert list(errors) == ["bad"] and str(errors["bad"]) == "bad item alone"
    assert sorted(map(tuple, run.batches[2:])) == [("b",), ("bad",), ("c",)]


def test_an_item_alone_raises_its_own_exception_once():
    calls = []

    def run(key, items):
        calls.append(items)
        raise RuntimeError("database down")

    group = GroupCommit(run)
    with pytest.raises(RuntimeError, match="database down"):
        group.submit("ws", 1)
    assert calls == [[1]] and not group._running


def test_a_base_exception_in_a_batch_releases_the_waiting_callers():
    release = threading.Event()
    started = threading.Event()
    calls = []

    def run(key, items):
        calls.append(list(items))
        if len(calls) == 1:
            started.set()
            assert release.wait(WAIT)
            raise KeyboardInterrupt  # not an Exception: the leader's own thread ends
        return [item * 10 for item in items]

    group = GroupCommit(run)
    leader_error = []

    def lead():
        try:
            group.submit("ws", 1)
        except KeyboardInterrupt as exc:
            leader_error.append(exc)

    leader = threading.Thread(target=lead)
    leader.start()
    assert started.wait(WAIT)
    threads, results, errors = submit_in_threads(group, "ws", [2, 3])
    wait_until(lambda: len(group._queues.get("ws", [])) == 2, "two queued callers")
    release.set()
    for thread in [leader, *threads]:
        thread.join(WAIT)
    assert leader_error and not errors
    assert results == {2: 20, 3: 30}


def test_callers_of_other_keys_never_wait():
    run = Gate()
    group = GroupCommit(run)
    blocked, _, _ = submit_in_threads(group, "ws-1", ["a"])
    assert run.started.wait(WAIT)
    assert group.submit("ws-2", "x") == "ws-2:x"  # the ws-1 batch is still running
    run.release.set()
    for thread in blocked:
        thread.join(WAIT)


def test_after_runs_once_per_batch_and_never_holds_up_the_next():
    """The first batch's ``after`` is held; the callers that queued meanwhile still get
    their batch run and their results."""
    held, in_after = threading.Event(), threading.Event()
    afters: list[tuple] = []

    def after(key, items, results):
        afters.append((key, list(items), list(results)))
        if len(afters) == 1:
            in_after.set()
            assert held.wait(WAIT)

    run = Gate()
    group = GroupCommit(run, after=after)
    first, first_results, _ = submit_in_threads(group, "ws", ["a"])
    assert run.started.wait(WAIT)
    threads, results, errors = submit_in_threads(group, "ws", ["b", "c"])
    wait_until(lambda: len(group._queues.get("ws", [])) == 2, "the callers to queue")
    run.release.set()
    assert in_after.wait(WAIT)  # "a"'s after runs, and is held...
    for thread in threads:  # ...while "b" and "c" are run and answered
        thread.join(WAIT)
    assert not errors and results == {"b": "ws:b", "c": "ws:c"}
    assert first_results == {}  # "a"'s caller is still in its after
    held.set()
    for thread in first:
        thread.join(WAIT)
    assert first_results == {"a": "ws:a"}
    assert sorted((key, sorted(items), sorted(res)) for key, items, res in afters) == [
        ("ws", ["a"], ["ws:a"]),
        ("ws", ["b", "c"], ["ws:b", "ws:c"]),
    ]


def test_after_runs_for_each_item_alone_after_a_failed_batch_and_not_for_the_batch():
    afters: list[list] = []
    run = Gate(fail_with="bad")
    group = GroupCommit(run, after=lambda key, items, results: afters.append(list(items)))
    _, results, errors = queued_behind_a_running_batch(group, run, ["b", "bad", "c"])
    assert results == {"b": "ws:b", "c": "ws:c"} and list(errors) == ["bad"]
    assert sorted(afters) == [["a"], ["b"], ["c"]]  # not the failed batch, not "bad"
