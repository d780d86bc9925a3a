"""Fault injection through the whole flow, with exact counts at the end.

Leads are routed, pushed to VICIdial and messaged by real Celery worker processes and a
real beat, on a broker of this test's own, while the faults of issue 12 are injected in
turn: a worker killed mid-batch, the broker dropped (and back, empty), VICIdial refusing
connections, the gateway down, every database connection of the workers terminated.
When the faults end, the periodic sweepers must finish the work: every lead stored once,
pushed once (one VICIdial lead each), and messaged at most once and, after the faults,
at least once. The worker is killed while the gateway holds the answer to a send it took
(a barrier, not a hope), so a message whose send happened but was never recorded must be
found on the gateway after the lease, not sent again. Time is only sped up where a
backoff would otherwise take minutes.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from broadcast.models import Device, Message
from dialer.models import OutboxItem
from leads.models import Lead, LeadEvent
from routing.models import RetryItem
from tests.broadcast.fixtures import make_device, make_sequence
from tests.e2e.conftest import database_url, wait_until
from tests.routing.factories import make_leads, make_rule

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FIRST, SECOND = 120, 60  # leads before and during the broker outage


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    """A Redis of this test's own (keeps nothing on disk), so it can be dropped."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the test broker did not start")

    def kill(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def broker():
    broker = Broker()
    if broker.binary is None:
        pytest.skip("no redis-server binary on this machine to run a broker of the test's own")
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
def processes(broker):
    """Start Celery workers and beat on the test's broker; all stopped at teardown."""
    procs: list[subprocess.Popen] = []
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker.url,
        # Short leases and lock timeouts so a killed worker's work comes back in seconds.
        "ROUTING_BATCH_SIZE": "10",
        "ROUTING_LOCK_TIMEOUT_SECONDS": "3",
        "DIALER_LEASE_SECONDS": "3",
        "DIALER_BATCH_SIZE": "20",
        "BROADCAST_LEASE_SECONDS": "3",
        "BROADCAST_DISPATCH_SECONDS": "3",
        "BROADCAST_DEVICE_MAX_FAILURES": "2",
        "BROADCAST_PROBE_BASE_SECONDS": "1",
        "BROADCAST_PROBE_MAX_SECONDS": "2",
        "BROADCAST_RETRY_BASE_SECONDS": "5",
    }

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen([str(BIN / "celery"), "-A", "config", *args], cwd=ROOT, env=env)
        procs.append(proc)
        return proc

    def worker() -> subprocess.Popen:
        return start(
            "worker",
            "-Q",
            "default,routing,dialer,broadcast",
            "-P",
            "threads",
            "-c",
            "4",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "warning",
        )

    def beat() -> subprocess.Popen:
        return start("beat", "-l", "warning", "-s", "/dev/null")

    yield worker, beat
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def fast_schedules() -> None:
    """Every periodic task every second (the production intervals are minutes)."""
    from django.core.management import call_command
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    call_command("setup_schedules", verbosity=0)
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.update(interval=every_second, crontab=None, enabled=False)
    PeriodicTask.objects.filter(
        task__in=[
            "routing.tasks.route_pending_task",
            "routing.tasks.retry_drain_task",
            "dialer.tasks.outbox_drain_all_task",
            "broadcast.tasks.dispatch_task",
            "broadcast.tasks.enrollment_requests_process_task",
            "broadcast.tasks.devices_probe_task",
        ]
    ).update(enabled=True)
    PeriodicTask.objects.update(last_run_at=None)
    from django_celery_beat.models import PeriodicTasks

    PeriodicTasks.update_changed()


def terminate_worker_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def what_is_left(ids: list[int], gateway) -> dict:
    """Where the work stands, for a failure message."""
    from django.db.models import Count

    from broadcast.models import EnrollmentRequest

    def counts(queryset, *fields: str) -> list:
        return list(queryset.values(*fields).annotate(n=Count("id")).order_by(*fields))

    return {
        "messages": counts(Message.objects.filter(lead_id__in=ids), "status", "error"),
        "outbox": counts(OutboxItem.objects.filter(lead_id__in=ids), "state"),
        "leads": counts(Lead.objects.filter(id__in=ids), "status"),
        "devices": list(Device.objects.values("id", "status", "status_reason", "lease_until")),
        "enrollment_requests": counts(EnrollmentRequest.objects.all(), "status"),
        "gateway_sent": len(gateway.sent),
        "retry_items": RetryItem.objects.filter(is_dead=False).count(),
    }


def time_passes() -> None:
    """What waits for a backoff (minutes in production) is due now."""
    now = timezone.now()
    OutboxItem.objects.filter(state="pending").update(next_attempt_at=now)
    RetryItem.objects.filter(is_dead=False).update(next_retry_at=now)
    Device.objects.filter(probe_at__isnull=False).update(probe_at=now)


@pytest.mark.timeout(600)  # the bounded waits below end first, saying what is left
def test_every_lead_once_every_push_once_every_message_exactly_once_after_faults(
    workspace, vici, server, vici_list, gateway, broker, processes
):
    start_worker, start_beat = processes
    devices = [make_device(workspace, gateway, n) for n in range(1, 4)]
    sequence = make_sequence(workspace, "Hi {first_name}")
    make_rule(
        "all", destinations=[{"workspace": workspace, "vici_list": vici_list, "sequence": sequence}]
    )
    fast_schedules()
    ids = make_leads(workspace, FIRST, first_name="Ann")

    # 1. A worker killed mid-batch (SIGKILL: no cleanup; its leased pushes hang until the
    # lease ends, and some of them reached VICIdial without their answer being recorded).
    # The gateway holds its answers meanwhile: the worker dies with a send the gateway took
    # and it never recorded.
    vici.latency = 0.3  # ~33 pushes a second: the drain is surely under way when killed
    gateway.hold()
    first = start_worker()
    start_beat()
    wait_until(
        lambda: len(vici.state.leads) >= 10 and gateway.held >= 1,
        what="pushes under way and a send taken by the gateway, its answer held",
    )
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert len(vici.state.leads) < FIRST  # killed in the middle, not after the work
    gateway.release()
    vici.latency = 0.0
    start_worker()

    # 2. The broker dropped (Redis loses every queued message) while leads arrive.
    broker.kill()
    ids += make_leads(workspace, SECOND, first_name="Bo")
    broker.start()

    # 3. VICIdial refuses connections and 4. the gateway is down, for a while.
    vici.down()
    gateway.down()
    wait_until(
        lambda: (
            Device.objects.filter(status="paused").exists()
            or OutboxItem.objects.filter(attempts__gt=0, state="pending").exists()
        ),
        seconds=90,
        what="the outages being felt (a retrying push or a paused device)",
    )
    # 5. Every database connection of the workers and beat terminated.
    terminate_worker_connections()
    vici.up()
    gateway.up()
    time_passes()

    # The faults are over: the sweepers must finish everything. Done when nothing is left
    # to do (no push or message waiting or in flight), not when the counts look right: a
    # duplicate made after the last expected send would otherwise go unseen.
    messages = Message.objects.filter(lead_id__in=ids)
    open_pushes = OutboxItem.objects.filter(lead_id__in=ids, state__in=["pending", "in_flight"])

    def done() -> bool:
        time_passes()
        return (
            messages.filter(status="sent").count() >= len(ids)
            and not messages.filter(status__in=["pending", "sending"]).exists()
            and not open_pushes.exists()
        )

    try:
        wait_until(done, seconds=240, what="every lead pushed and messaged after the faults")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; left: {what_is_left(ids, gateway)}") from None

    assert Lead.objects.filter(workspace=workspace).count() == FIRST + SECOND
    assert set(Lead.objects.filter(id__in=ids).values_list("status", flat=True)) == {"routed"}
    vici_leads = Counter(row["vendor_lead_code"] for row in vici.state.leads.values())
    assert vici_leads == Counter({str(lead_id): 1 for lead_id in ids})  # one push each
    per_person = Counter(s.chat_id for s in gateway.sent)
    assert len(per_person) == len(ids) and set(per_person.values()) == {1}  # one message each
    # What Leadbrain recorded is what the gateway sent, one to one; the send the killed
    # worker never recorded was found on the gateway, not made again.
    recorded = list(messages.values_list("status", "gateway_id"))
    assert len(recorded) == len(ids) and {status for status, _ in recorded} == {"sent"}
    assert {gateway_id for _, gateway_id in recorded} == {s.message_id for s in gateway.sent}
    found = LeadEvent.objects.filter(kind="message_sent", data__found_on_gateway=True)
    assert found.exists()
    assert LeadEvent.objects.filter(lead_id__in=ids, kind="message_sent").count() == len(ids)
    assert {d.status for d in Device.objects.filter(pk__in=[d.pk for d in devices])} == {"active"}
