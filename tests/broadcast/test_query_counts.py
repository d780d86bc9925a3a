"""No per-row queries: the dispatcher's claim and record of a batch, and the admin
changelists of devices and sequences, cost the same number of queries at any size."""

import datetime as dt
import re
import time

import pytest
from django.utils import timezone

from broadcast import services
from broadcast.client import GatewayError, GatewayRejected, GatewaySessionDown
from broadcast.models import Device, Enrollment, Message, Step
from broadcast.services.dispatch import Outcome
from leads.models import Lead, LeadEvent
from leads.services import suppression_add
from tests.broadcast.fixtures import make_device, make_sequence
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db


def due_batch(workspace, gateway, n: int):
    """``n`` devices with one due message each (the lead of the i-th device is ids[i])."""
    devices = [make_device(workspace, gateway, i) for i in range(1, n + 1)]
    sequence = make_sequence(workspace, "one {first_name}", "two {first_name}")
    ids = make_leads(workspace, n)
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    assert Message.objects.values("device_id").distinct().count() == n  # one per device
    Message.objects.update(scheduled_at=timezone.now() - dt.timedelta(seconds=1))
    Enrollment.objects.update(timezone="UTC")
    return sequence, ids, devices


@pytest.mark.parametrize("n", [6, 60])
def test_claiming_a_batch_costs_the_same_queries_at_any_size(
    workspace, gateway, n, django_assert_max_num_queries
):
    sequence, ids, _ = due_batch(workspace, gateway, n)
    # Every kind of decision the claim makes, each for n / 6 rows: consent gone (two
    # reasons), enrollment no longer active, device over its cap, outside the window, sent.
    for lead in Lead.objects.filter(pk__in=ids[0::6]):
        suppression_add(kind="phone", value=lead.phone)
    Lead.objects.filter(pk__in=ids[1::6]).update(status=Lead.Status.SALE)
    Enrollment.objects.filter(lead_id__in=ids[2::6]).update(status="stopped")
    capped = Enrollment.objects.filter(lead_id__in=ids[3::6]).values("device_id")
    Device.objects.filter(pk__in=capped).update(daily_cap=0)
    now = timezone.now()
    sequence.window_start = (now - dt.timedelta(hours=3)).time()
    sequence.window_end = (now + dt.timedelta(hours=3)).time()
    sequence.save()
    Enrollment.objects.filter(lead_id__in=ids[4::6]).update(timezone="Pacific/Kiritimati")

    stats = services.DispatchStats()
    # Claim and consent reads, one UPDATE per kind of decision, and one enrollment stop
    # (3 statements in a savepoint) per reason: 19 for 6 rows as for 60.
    with django_assert_max_num_queries(19):
        claims = services.dispatch_claim(limit=n, now=now, stats=stats)
    k = n // 6
    assert len(claims) == k
    assert (stats.claimed, stats.skipped, stats.rescheduled) == (k, 3 * k, k)
    assert Enrollment.objects.filter(status="stopped").count() == 3 * k
    assert Message.objects.filter(status="sending").count() == k


@pytest.mark.parametrize("n", [5, 50])
def test_recording_a_batch_costs_the_same_queries_at_any_size(
    workspace, gateway, n, django_assert_max_num_queries
):
    sequence, ids, _ = due_batch(workspace, gateway, n)
    Message.objects.filter(lead_id__in=ids[1::5]).update(step=2)  # the last step: completes
    claims = {c.lead_id: c for c in services.dispatch_claim(limit=n)}
    assert len(claims) == n
    at = time.time()
    errors = [
        None,
        None,
        GatewayRejected("not on WhatsApp"),
        GatewayError("gateway HTTP 503", retryable=True),
        GatewaySessionDown("session logged out"),
    ]
    outcomes = [
        Outcome(claims[lead], at, at, gateway_id=f"gw-{lead}", error=errors[i % 5])
        for i, lead in enumerate(ids)
    ]

    stats = services.DispatchStats()
    # The claimed attempts (recording is idempotent), messages, devices, successors (a read,
    # the sequence's steps once, completions, steps advanced, next messages), failed
    # enrollments, history: 13 for 5 rows as for 50.
    with django_assert_max_num_queries(13):
        services.dispatch_record(outcomes, stats)
    k = n // 5
    assert (stats.sent, stats.failed, stats.retried) == (2 * k, k, 2 * k)  # session down: retry
    assert Message.objects.filter(step=2, status="pending").count() == k  # successors
    assert Enrollment.objects.filter(status="completed").count() == k
    assert Enrollment.objects.filter(status="failed").count() == k
    assert Device.objects.filter(status="disconnected").count() == k
    assert LeadEvent.objects.filter(kind="message_sent").count() == 2 * k


def test_the_devices_changelist_is_a_fixed_number_of_queries(
    admin_client, workspace, partner_workspace, gateway, django_assert_max_num_queries
):
    for n in range(1, 21):
        make_device(partner_workspace if n % 2 else workspace, gateway, n)
    with django_assert_max_num_queries(6):  # session, user, workspace filter, counts, rows
        page = admin_client.get("/admin/broadcast/device/")
    assert page.status_code == 200 and page.content.decode().count("field-cap_today") == 20


def test_the_sequences_changelist_is_a_fixed_number_of_queries(
    admin_client, workspace, partner_workspace, django_assert_max_num_queries
):
    for n in range(1, 21):
        steps = ["step"] * (n % 3 + 1)
        make_sequence(partner_workspace if n % 2 else workspace, *steps, name=f"Drip {n}")
    with django_assert_max_num_queries(6):  # the step counts come with the rows
        page = admin_client.get("/admin/broadcast/sequence/")
    assert page.status_code == 200
    counts = [int(c) for c in _column(page.content.decode(), "steps")]
    assert sorted(counts) == sorted(n % 3 + 1 for n in range(1, 21))
    assert Step.objects.count() == sum(counts)


def _column(html: str, name: str) -> list[str]:
    return re.findall(rf'<td class="field-{name}">([^<]*)</td>', html)


@pytest.mark.parametrize("n", [5, 50])
def test_enrolling_a_batch_costs_the_same_queries_at_any_size(
    workspace, device, n, django_assert_max_num_queries
):
    sequence = make_sequence(workspace, "Hi {first_name}")
    ids = make_leads(workspace, n)
    # Sequence, devices and their queue tails, the leads; then per batch a temp table and
    # one statement for enrollments, first messages and their history: 13 for 5 or 50.
    with django_assert_max_num_queries(13):
        result = services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    assert result.created == n
    assert LeadEvent.objects.filter(kind="enrolled").count() == n
