import datetime as dt

import pytest

from broadcast.models import Device, Sequence, Step
from simulators.gateway import GatewaySimulator


@pytest.fixture
def gateway():
    double = GatewaySimulator(token="gw-token").start()
    yield double
    double.stop()


def make_device(workspace, gateway, n: int = 1, **fields) -> Device:
    defaults = {
        "name": f"device {n}",
        "phone": f"+1555000{n:04d}",
        "gateway_url": gateway.url,
        "gateway_session": f"s{n}",
        "gateway_token": "gw-token",
        "min_interval_seconds": 0.2,
        "max_interval_seconds": 0.3,
    }
    return Device.objects.create(workspace=workspace, **{**defaults, **fields})


def make_sequence(workspace, *templates: str, delays=(), **fields) -> Sequence:
    """A sequence open all day (00:00-23:59) unless a window is given."""
    defaults = {"name": "Welcome", "window_start": dt.time(0, 0), "window_end": dt.time(23, 59, 59)}
    sequence = Sequence.objects.create(workspace=workspace, **{**defaults, **fields})
    for i, template in enumerate(templates or ("Hi {first_name}",), start=1):
        delay = delays[i - 1] if i - 1 < len(delays) else 0
        Step.objects.create(sequence=sequence, position=i, template=template, delay_minutes=delay)
    return sequence


@pytest.fixture
def device(workspace, gateway) -> Device:
    return make_device(workspace, gateway)


def dispatch_until(done, *, seconds: float = 15.0, step: float = 0.4, **kwargs):
    """Run the dispatcher in short rounds until ``done()`` (a bounded wait, not a sleep):
    returns the summed stats. Fails loudly if ``done()`` never holds."""
    import time

    from broadcast import services

    total = services.DispatchStats()
    deadline = time.monotonic() + seconds
    while True:
        stats = services.dispatch_run(seconds=step, **kwargs)
        for name, value in stats.__dict__.items():
            setattr(total, name, getattr(total, name) + value)
        if done():
            return total
        if time.monotonic() > deadline:
            raise AssertionError(f"dispatching did not finish in {seconds}s: {total}")


@pytest.fixture
def broker_down():
    """The Celery broker points at a closed port for this test: publishing a task fails."""
    import socket

    from celery import current_app

    app = current_app._get_current_object()

    def reconnect(url: str) -> None:
        # Only drop the app's references: kombu keeps its pools per URL in a global registry,
        # so the real broker's pool stays open for the tests that follow.
        app.conf.broker_url = url
        app._pool = None
        app.amqp._producer_pool = None

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before = app.conf.broker_url
    reconnect(f"redis://127.0.0.1:{port}/0")
    yield
    reconnect(before)


@pytest.fixture
def eager():
    """Tasks run in the process that enqueues them (a few flow tests only)."""
    from celery import current_app

    before = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = before
