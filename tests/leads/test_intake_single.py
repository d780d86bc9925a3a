"""Single leads posted one by one (``lead_ingest_one``): concurrent ones of a process and
workspace share one intake batch (group commit), each with its own verdict, and a batch's
new leads are announced to routing once committed."""

import threading
import time

import pytest
from django.db import connection

from leads.intake import _single_leads
from leads.models import Lead, LeadEvent, Suppression
from leads.normalize import dedupe_hash, lock_key
from leads.services import lead_ingest_one
from leads.signals import leads_ingested
from tests.leads.test_intake import row
from tests.pgtools import second_connection

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_a_single_lead_is_announced_once_committed_and_only_if_created(workspace):
    """A grouped single lead is announced to routing (``leads_ingested``) once committed,
    and only a created one. That the announcement waits for no one is the group's own
    test (tests/core/test_group_commit.py)."""
    received = []

    def receiver(sender, workspace_id, lead_ids, **kwargs):
        received.append((workspace_id, lead_ids))
        with second_connection() as other:  # committed: another session sees the lead
            [(seen,)] = other.execute(
                "SELECT count(*) FROM leads_lead WHERE id = ANY(%s)", [lead_ids]
            ).fetchall()
        received.append(seen)

    Suppression.objects.create(kind="phone", value="+13122000052")
    leads_ingested.connect(receiver)
    try:
        created = lead_ingest_one(workspace=workspace, data=row(51), actor="key:t")
        repeat = lead_ingest_one(workspace=workspace, data=row(51), actor="key:t")
        suppressed = lead_ingest_one(workspace=workspace, data=row(52), actor="key:t")
    finally:
        leads_ingested.disconnect(receiver)
    assert (created.status, repeat.status, suppressed.status) == (
        "created",
        "duplicate",
        "suppressed",
    )
    assert received == [(workspace.pk, [created.id]), 1]


@pytest.mark.django_db(transaction=True)
def test_concurrent_single_leads_share_one_batch_each_with_its_own_verdict(workspace):
    """Group commit: single leads arriving while a batch of their workspace runs are
    written together in the next one (one transaction), each with the verdict it would
    have had alone: new, a repeat of a lead in the same batch, a repeat of the running
    batch's lead, a row error."""
    first = row(40)
    held = lock_key(workspace.id, dedupe_hash("+13122000040", ""))
    holder = second_connection()
    holder.execute("SELECT pg_advisory_lock(%s)", [held])  # the first batch waits on it
    outcomes: dict[str, object] = {}
    errors: list[BaseException] = []

    def post(name: str, data: dict) -> None:
        try:
            outcomes[name] = lead_ingest_one(workspace=workspace, data=data, actor="key:t")
        except BaseException as exc:  # noqa: BLE001 (asserted below)
            errors.append(exc)
        finally:
            connection.close()

    batches = _single_leads.batches
    leader = threading.Thread(target=post, args=("first", first))
    leader.start()
    queue_key = (workspace.pk, "", "key:t")
    followers = {
        "new": row(41),
        "same-a": row(42, first_name="A"),
        "same-b": row(42, first_name="B"),
        "repeat-of-first": row(40, first_name="Again"),
        "bad": {"first_name": "No phone or email"},
    }
    threads = [threading.Thread(target=post, args=item) for item in followers.items()]
    try:
        deadline = time.monotonic() + 10
        while _single_leads.batches == batches:  # the first batch has started
            assert time.monotonic() < deadline
            time.sleep(0.001)
        for thread in threads:
            thread.start()
        while len(_single_leads._queues.get(queue_key, [])) < len(followers):
            assert time.monotonic() < deadline, "the followers did not queue"
            time.sleep(0.001)
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s)", [held])
        holder.close()
    for thread in [leader, *threads]:
        thread.join(timeout=30)
    assert not errors
    assert _single_leads.batches == batches + 2  # the first alone, then the five together
    assert outcomes["first"].status == "created"
    assert outcomes["new"].status == "created"
    same = sorted([outcomes["same-a"], outcomes["same-b"]], key=lambda r: r.id is None)
    assert same[0].status == "created" and same[1].status == "duplicate"
    assert same[1].duplicate_of == same[0].id
    assert outcomes["repeat-of-first"].status == "duplicate"
    assert outcomes["repeat-of-first"].duplicate_of == outcomes["first"].id
    assert outcomes["bad"].status == "rejected" and outcomes["bad"].errors
    assert Lead.objects.count() == 3
    assert LeadEvent.objects.filter(kind="created").count() == 3
    assert LeadEvent.objects.filter(kind="duplicate_received").count() == 2
