"""The living demo end to end: the traffic generator posts leads to a live gunicorn for a
bounded time; real Celery workers and beat route them, push them to the VICIdial
simulator, whose dialer calls them and reports back through Leadbrain's call URLs; the
gateway simulator takes the messages and sends receipts and STOP replies to the webhook."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Q
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from broadcast.models import Device, Message
from calllogs.models import CallLog
from leads.models import Lead, LeadEvent
from simulators.demo.connect import demo_connect, demo_key
from simulators.demo.setup import demo_setup
from simulators.gateway import GatewaySimulator
from simulators.traffic import Traffic
from simulators.vicidial import ViciSimulator
from tests.e2e.conftest import database_url, wait_until
from tests.gunicorn_server import Gunicorn

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD = "DemoVici2026"


@pytest.fixture
def celery(settings):
    """A worker on every queue and beat, with short dispatch rounds; stopped at teardown."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "BROADCAST_DISPATCH_SECONDS": "3",
    }
    worker = ["worker", "-Q", "default,intake,routing,dialer,calllogs,broadcast", "-P"]
    worker += ["threads", "-c", "4", "--without-heartbeat", "--without-mingle"]
    worker += ["--without-gossip", "-l", "warning"]
    beat = ["beat", "-l", "warning", "-s", "/dev/null"]
    procs = [
        subprocess.Popen([str(BIN / "celery"), "-A", "config", *args], cwd=ROOT, env=env)
        for args in (worker, beat)
    ]
    yield procs
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def web(tmp_path):
    server = Gunicorn(tmp_path / "access.log")
    server.wait_ready()
    yield server
    server.stop()


@pytest.fixture
def simulators():
    vici = ViciSimulator(user="leadbrain", password=PASSWORD).start()
    vici.start_dialer(hopper_delay=(0.2, 1.0), talk_delay=(0.2, 1.0), calls_per_second=5)
    gateway = GatewaySimulator(token="demo-gateway-token").start()
    gateway.start_phones(ack_delay=(0.1, 0.5), stop_share=0.3, reply_share=0.0)
    yield vici, gateway
    vici.stop()
    gateway.stop()


def quick_schedules() -> None:
    """The demo's schedules, only sooner: the drain and the dispatch every 2 seconds."""
    every, _ = IntervalSchedule.objects.get_or_create(every=2, period="seconds")
    PeriodicTask.objects.filter(
        task__in=["dialer.tasks.outbox_drain_all_task", "broadcast.tasks.dispatch_task"]
    ).update(interval=every, crontab=None, last_run_at=None)
    PeriodicTasks.update_changed()


def test_demo_traffic_is_routed_pushed_called_and_messaged(web, simulators, celery):
    vici, gateway = simulators
    call_command("setup_schedules", verbosity=0)
    demo = demo_setup(
        vici_url=vici.url, vici_password=PASSWORD, gateway_url=gateway.url, password="pw"
    )
    Device.objects.update(min_interval_seconds=0.2, max_interval_seconds=0.4)
    quick_schedules()
    demo_connect(
        vici_control_url=f"http://127.0.0.1:{vici.port}/simulator/campaign",
        gateway_url=gateway.url,
        web_url=web.url,
    )
    keys = [demo_key(workspace=w, name="demo-traffic") for w in demo.workspaces.values()]
    traffic = Traffic(base_url=web.url, keys=keys, rate=4, seed=5)
    stop = threading.Event()
    thread = threading.Thread(target=traffic.run, args=(stop,), kwargs={"seconds": 15})
    thread.start()
    try:
        wait_until(lambda: len(traffic.lead_ids) >= 10, seconds=60, what="10 demo leads in")
        ids = list(traffic.lead_ids)
        leads = Lead.objects.filter(id__in=ids)
        wait_until(
            lambda: leads.filter(routed_at__isnull=False).count() >= 5,
            seconds=120,
            what="demo leads routed",
        )
        wait_until(
            lambda: leads.filter(vici_lead_id__isnull=False).count() >= 5,
            seconds=120,
            what="demo leads pushed to the VICIdial simulator",
        )
        wait_until(
            lambda: CallLog.objects.filter(lead_id__in=ids).exclude(status="").count() >= 3,
            seconds=120,
            what="calls reported back through the call URLs",
        )
        wait_until(
            lambda: Message.objects.filter(
                lead_id__in=ids, status__in=["delivered", "read"]
            ).exists(),
            seconds=120,
            what="messages delivered (receipts through the webhook)",
        )
        wait_until(
            lambda: LeadEvent.objects.filter(
                Q(kind=LeadEvent.Kind.MESSAGE_RECEIVED) & Q(message="STOP")
            ).exists(),
            seconds=120,
            what="a STOP reply through the webhook",
        )
    finally:
        stop.set()
        thread.join(timeout=30)
    assert traffic.answers["created"] >= 10
    answers = [status for _, status in vici.dialer.sent]
    assert answers and all(200 <= status < 300 for status in answers), answers
