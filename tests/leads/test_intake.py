import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.partitions import partition_archive, partition_ensure
from leads import intake, intake_sql
from leads.models import Lead, LeadEvent, Suppression
from leads.services import lead_ingest_batch, leads_mark_dnc, suppression_add
from leads.signals import leads_ingested
from tests.pgtools import protocol_trace, round_trips, simple_queries

pytestmark = pytest.mark.django_db

GOOD = {"first_name": "Ana", "phone": "(213) 555-0123", "email": "Ana@Example.COM"}


def row(n: int, **extra):
    return {
        "first_name": f"P{n}",
        "phone": f"+1 312 {200 + n // 10000:03d} {n % 10000:04d}",
        **extra,
    }


def test_normalizes_and_stores_with_created_event(workspace):
    [result] = lead_ingest_batch(
        workspace=workspace, rows=[{**GOOD, "phone": "213-456-7890", "custom": {"a": 1}}]
    )
    assert result.status == "created"
    lead = Lead.objects.get(pk=result.id)
    assert lead.phone == "+12134567890"
    assert lead.email == "ana@example.com"
    assert lead.custom == {"a": 1}
    assert lead.status == Lead.Status.PENDING
    assert lead.expires_at is not None
    assert list(lead.events.values_list("kind", flat=True)) == ["created"]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"first_name": "No contact"}, "non_field_errors"),
        ({"phone": "123"}, "phone"),
        ({"phone": "+1 555 555 5555"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": ["+12134567890"]}, "phone"),
        ({"email": "a@b.co", "custom": [1, 2]}, "custom"),
        ({"email": "a@b.co", "timezone": "Mars/Olympus"}, "timezone"),
        ({"email": "a@b.co", "first_name": "x" * 101}, "first_name"),
        ({"email": "a@b.co", "consent": {"ip": "999.1.1.1"}}, "consent"),
        ({"email": "a@b.co", "favourite_colour": "blue"}, "favourite_colour"),
    ],
)
def test_bad_rows_get_field_errors_and_never_block_good_rows(workspace, bad, field):
    results = lead_ingest_batch(workspace=workspace, rows=[bad, row(1)])
    assert results[0].status == "rejected"
    assert field in results[0].errors
    assert results[1].status == "created"
    assert Lead.objects.count() == 1


def test_duplicate_names_original_and_records_event_on_it(workspace):
    [first] = lead_ingest_batch(workspace=workspace, rows=[row(1)])
    [second] = lead_ingest_batch(workspace=workspace, rows=[row(1, first_name="Again")])
    assert second.status == "duplicate"
    assert second.duplicate_of == first.id
    assert Lead.objects.count() == 1
    kinds = set(LeadEvent.objects.filter(lead_id=first.id).values_list("kind", flat=True))
    assert kinds == {"created", "duplicate_received"}


def test_events_carry_their_leads_scope_given_or_read(workspace, partner_workspace):
    """A new lead's events are written with its scope (its workspace, no destination yet);
    a repeat's event lands on an earlier lead, which may have been routed since: its scope
    is read from the lead (leads 0011), never the new row's guess."""
    [first] = lead_ingest_batch(workspace=workspace, rows=[row(1)])
    Lead.objects.filter(pk=first.id).update(destination_workspace_id=partner_workspace.pk)
    again, new = lead_ingest_batch(workspace=workspace, rows=[row(1), row(2)])
    assert (again.status, new.status) == ("duplicate", "created")
    stamped = set(LeadEvent.objects.values_list("kind", "lead_workspace_id", "lead_destination_id"))
    assert stamped == {
        ("created", workspace.pk, partner_workspace.pk),  # followed the lead's routing
        ("duplicate_received", workspace.pk, partner_workspace.pk),
        ("created", workspace.pk, None),  # the second person, new
    }


def test_duplicates_inside_one_batch_are_caught(workspace):
    results = lead_ingest_batch(workspace=workspace, rows=[row(1), row(2), row(1)])
    assert [r.status for r in results] == ["created", "created", "duplicate"]
    assert results[2].duplicate_of == results[0].id
    assert Lead.objects.count() == 2


def test_dedupe_is_per_workspace_and_window(workspace, partner_workspace):
    lead_ingest_batch(workspace=workspace, rows=[row(1)])
    [other] = lead_ingest_batch(workspace=partner_workspace, rows=[row(1)])
    assert other.status == "created"
    Lead.objects.update(created_at=timezone.now() - timedelta(days=31))
    [later] = lead_ingest_batch(workspace=workspace, rows=[row(1)])
    assert later.status == "created"
    workspace.dedupe_window_days = 60
    workspace.save()
    [again] = lead_ingest_batch(workspace=workspace, rows=[row(1)])
    assert again.status == "duplicate"


def test_suppressed_phone_or_email_is_stored_as_suppressed_and_not_signalled(
    workspace, django_capture_on_commit_callbacks
):
    suppression_add(kind=Suppression.Kind.PHONE, value="+13122000001")
    suppression_add(kind=Suppression.Kind.EMAIL, value="x@y.com", workspace_id=workspace.pk)
    received = []

    def receiver(sender, lead_ids, **kwargs):
        received.extend(lead_ids)

    leads_ingested.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            results = lead_ingest_batch(
                workspace=workspace, rows=[row(1), {"email": "X@y.com"}, row(2)]
            )
    finally:
        leads_ingested.disconnect(receiver)
    assert received == [results[2].id]
    assert [r.status for r in results] == ["suppressed", "suppressed", "created"]
    statuses = dict(Lead.objects.values_list("id", "status"))
    assert statuses[results[0].id] == "suppressed"
    assert LeadEvent.objects.filter(lead_id=results[0].id, kind="suppressed").exists()


def test_signal_sent_on_commit_with_pending_ids(workspace, django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, workspace_id, lead_ids, **kwargs):
        received.append((workspace_id, lead_ids))

    leads_ingested.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            results = lead_ingest_batch(workspace=workspace, rows=[row(1), row(2)])
        assert received == []
        for callback in callbacks:
            callback()
    finally:
        leads_ingested.disconnect(receiver)
    assert received == [(workspace.pk, [results[0].id, results[1].id])]


def test_batch_writes_one_statement_per_table(workspace, django_assert_max_num_queries):
    rows = [row(n) for n in range(500)]
    with django_assert_max_num_queries(12):
        results = lead_ingest_batch(workspace=workspace, rows=rows)
    assert {r.status for r in results} == {"created"}
    assert Lead.objects.count() == 500
    assert LeadEvent.objects.count() == 500


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("known", [False, True], ids=["new", "repeat"])
def test_a_small_batch_waits_on_postgresql_twice(workspace, known):
    """BEGIN, the locks and every read in one round trip, the writes and COMMIT in another
    (they were 10, one per statement; then 4, BEGIN and COMMIT each alone)."""
    if known:
        lead_ingest_batch(workspace=workspace, rows=[row(1)])
    Suppression.objects.create(kind="phone", value="+13122000002")
    with protocol_trace(connection) as trace:
        results = lead_ingest_batch(workspace=workspace, rows=[row(1), row(2), row(3)])
    assert [r.status for r in results] == [
        "duplicate" if known else "created",
        "suppressed",
        "created",
    ]
    assert round_trips(trace) == 2
    assert Lead.objects.count() == 3
    assert LeadEvent.objects.count() == 4 + known  # created x3, suppressed; the repeat


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_the_same_person_create_exactly_one_lead(workspace):
    threads_n = 8
    barrier = threading.Barrier(threads_n)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            [result] = lead_ingest_batch(workspace=workspace, rows=[row(7, first_name=f"T{n}")])
            outcomes.append(result.status)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sorted(outcomes) == ["created"] + ["duplicate"] * (threads_n - 1)
    assert Lead.objects.filter(phone="+13122000007").count() == 1


def test_archived_leads_still_count_for_dedupe(workspace):
    old = datetime(2020, 1, 15, tzinfo=UTC)
    partition_ensure(Lead, start=date(2020, 1, 1), months=1)
    [first] = lead_ingest_batch(workspace=workspace, rows=[row(3)])
    Lead.objects.filter(pk=first.id).update(created_at=old)
    partition_archive(Lead, older_than=datetime(2020, 3, 1, tzinfo=UTC))
    assert not Lead.objects.filter(pk=first.id).exists()
    workspace.dedupe_window_days = (timezone.now() - old).days + 5
    workspace.save()
    [again] = lead_ingest_batch(workspace=workspace, rows=[row(3)])
    assert again.status == "duplicate"
    assert again.duplicate_of == first.id


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"phone": "+13122000001", "first_name": "A\x00B"}, "first_name"),
        ({"phone": "+13122000001", "custom": {"k": "v\x00"}}, "custom"),
        ({"phone": "+13122000001", "last_name": "\ud800"}, "last_name"),
        ({"email": "a\x00@b.co"}, "email"),
    ],
)
def test_unstorable_characters_are_row_errors_not_500s(workspace, bad, field):
    results = lead_ingest_batch(workspace=workspace, rows=[bad, row(5)])
    assert results[0].status == "rejected" and field in results[0].errors
    assert results[1].status == "created"


@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_does_not_fail_a_stored_batch(workspace):
    def broken(sender, **kwargs):
        raise ConnectionError("broker down")

    leads_ingested.connect(broken)
    try:
        [result] = lead_ingest_batch(workspace=workspace, rows=[row(9)])
    finally:
        leads_ingested.disconnect(broken)
    assert result.status == "created"
    assert Lead.objects.filter(pk=result.id).exists()


def test_suppressions_are_normalized_so_any_format_blocks(workspace):
    suppression_add(kind=Suppression.Kind.PHONE, value="(312) 200-0004")
    [result] = lead_ingest_batch(workspace=workspace, rows=[row(4)])
    assert result.status == "suppressed"


def test_suppression_add_many_normalizes_and_is_idempotent(workspace):
    from leads.services import suppression_add_many

    entries = [
        ("phone", "(312) 200-0006", None),
        ("email", "A@B.co", workspace.pk),
        ("phone", "+1 312 200 0006", None),
    ]
    assert suppression_add_many(entries=entries, source="test") == 2
    assert suppression_add_many(entries=entries, source="test") == 0
    assert set(Suppression.objects.values_list("value", flat=True)) == {"+13122000006", "a@b.co"}
    [result] = lead_ingest_batch(workspace=workspace, rows=[row(6)])
    assert result.status == "suppressed"


def test_suppression_outranks_dedupe_and_still_names_the_original(workspace):
    [first] = lead_ingest_batch(workspace=workspace, rows=[GOOD])
    assert first.status == "created"
    # The person opts out (a DNC disposition or a STOP reply), then is posted again.
    leads_mark_dnc(lead_ids=[first.id], reason="STOP", actor="device:1", source="opt-out")
    again, by_email = lead_ingest_batch(
        workspace=workspace, rows=[GOOD, {"email": "ana@example.com", "first_name": "A"}]
    )
    assert (again.status, again.duplicate_of, again.id) == ("suppressed", first.id, None)
    # Only the email known: another person by the dedupe key, stored as suppressed.
    assert (by_email.status, by_email.duplicate_of) == ("suppressed", None)
    assert Lead.objects.get(pk=by_email.id).status == "suppressed"
    # Someone else still answers duplicate as before.
    [other] = lead_ingest_batch(workspace=workspace, rows=[row(7)])
    [other_again] = lead_ingest_batch(workspace=workspace, rows=[row(7)])
    assert (other_again.status, other_again.duplicate_of) == ("duplicate", other.id)


def test_a_new_leads_events_are_written_with_its_scope_and_a_repeats_left_to_the_trigger(
    workspace,
):
    """Intake gives a new lead's events its scope itself (no trigger lookup per row); a
    repeat's event is left empty for the trigger, which knows where the earlier lead went
    (with every trigger off, nothing else writes the copy)."""
    lead_ingest_batch(workspace=workspace, rows=[row(1)])
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # no trigger fires
    try:
        again, new = lead_ingest_batch(workspace=workspace, rows=[row(1), row(2)])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = origin")
    stamped = dict(
        LeadEvent.objects.filter(lead_id__in=[again.duplicate_of, new.id])
        .exclude(kind="created", lead_id=again.duplicate_of)
        .values_list("kind", "lead_workspace_id")
    )
    assert stamped == {"duplicate_received": None, "created": workspace.pk}


def test_too_few_reserved_ids_fail_the_batch_and_store_nothing(workspace, monkeypatch):
    """A new lead is never silently left without an id: the batch fails whole."""
    reserve = intake.reserve_ids_statement
    monkeypatch.setattr(intake, "reserve_ids_statement", lambda count: reserve(count - 1))
    with pytest.raises(RuntimeError, match="1 lead ids reserved for 2 new leads"):
        lead_ingest_batch(workspace=workspace, rows=[row(1), row(2)])
    assert Lead.objects.count() == 0
    assert LeadEvent.objects.count() == 0


def test_the_dedupe_lookup_reads_the_hash_index(workspace):
    """The lookup's index is lead_hash_idx, in a partition of some size with its statistics:
    with sequential scans priced out the partition is not read through another index (a
    workspace-only or time-only one reads every lead of the workspace or window)."""
    lead_ingest_batch(workspace=workspace, rows=[row(n) for n in range(2000)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    hashes = list(Lead.objects.values_list("dedupe_hash", flat=True)[:5])
    created = Lead.objects.values_list("created_at", flat=True).first()
    now = timezone.now()
    sql, params = intake_sql.originals_statement(
        workspace.id, hashes, [], intake.dedupe_window_start(workspace, now), now
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = [line for (line,) in cursor.fetchall()]
    partition = f"leads_lead_p{created:%Y%m}"  # where the leads are
    scans = [line for line in plan if "Index Scan" in line and partition in line]
    assert scans, plan
    assert all(f"{partition}_dedupe_hash_idx" in line for line in scans), plan


PREPARED_READS = [
    intake_sql.LOCKS,
    intake_sql.ORIGINALS_LIVE,
    intake_sql.ARCHIVED_NAMES,
    intake_sql.SUPPRESSED,
]


def prepared_plans() -> dict[str, tuple[int, int]]:
    """(generic, custom) plans of each of a small batch's prepared reads on this connection."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE name = ANY(%s)",
            [[read.name for read in PREPARED_READS]],
        )
        found = {name: (generic, custom) for name, generic, custom in cursor.fetchall()}
    return {read.name: found.get(read.name, (0, 0)) for read in PREPARED_READS}


def test_a_small_batchs_reads_are_planned_once_per_connection(workspace, monkeypatch):
    """Their planning cost more than their runs (bench/README.md): each batch of a few
    people runs the plans the connection made once."""
    monkeypatch.setattr("core.prepared.REPLAN_SECONDS", 3600.0)  # no replan in the test
    Suppression.objects.create(kind="phone", value="+13122000003")
    before = prepared_plans()
    [first] = lead_ingest_batch(workspace=workspace, rows=[row(1)])
    again, new, suppressed = lead_ingest_batch(workspace=workspace, rows=[row(1), row(2), row(3)])
    assert (again.status, again.duplicate_of) == ("duplicate", first.id)
    assert (new.status, suppressed.status) == ("created", "suppressed")
    after = prepared_plans()
    assert {
        name: (generic - before[name][0], custom - before[name][1])
        for name, (generic, custom) in after.items()
    } == {read.name: (2, 0) for read in PREPARED_READS}


def test_the_prepared_dedupe_lookups_plan_reads_the_hash_index(workspace):
    """The plan made once serves any window: it reads lead_hash_idx per hash, never the
    time index over the window (which ``dedupe_hash = ANY(...)`` would choose)."""
    lead_ingest_batch(workspace=workspace, rows=[row(n) for n in range(2000)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    lead_ingest_batch(workspace=workspace, rows=[row(5000)])  # a small batch prepares it
    hashes = list(Lead.objects.values_list("dedupe_hash", flat=True)[:5])
    created = Lead.objects.values_list("created_at", flat=True).first()
    now = timezone.now()
    since = intake.dedupe_window_start(workspace, now)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(
            f"EXPLAIN EXECUTE {intake_sql.ORIGINALS_LIVE.name} (%s, %s, %s, %s)",
            [workspace.id, hashes, since, now + intake_sql.DEDUPE_CLOCK_MARGIN],
        )
        plan = [line for (line,) in cursor.fetchall()]
    partition = f"leads_lead_p{created:%Y%m}"  # where the leads are
    scans = [line for line in plan if "Scan" in line and partition in line]
    assert scans, plan
    assert all(f"{partition}_dedupe_hash_idx" in line for line in scans), plan


def test_without_prepared_statements_the_lookup_is_sent_as_text(workspace, settings):
    """DB_PREPARED_STATEMENTS=0 (a pooler in transaction mode): no EXECUTE nor PREPARE
    of intake's, same verdicts."""
    settings.DB_PREPARED_STATEMENTS = False
    [first] = lead_ingest_batch(workspace=workspace, rows=[row(1)])
    with protocol_trace(connection) as trace:
        [again] = lead_ingest_batch(workspace=workspace, rows=[row(1)])
    assert (again.status, again.duplicate_of) == ("duplicate", first.id)
    sent = " ".join(simple_queries(trace))
    assert "EXECUTE" not in sent and "PREPARE" not in sent
    assert "dedupe_hash = ANY(" in sent


def test_a_batch_of_many_people_sends_its_reads_as_text(workspace):
    """Its planning is shared by its people; a plan made for smaller partitions is not."""
    many = intake_sql.PREPARED_MAX_PEOPLE + 1
    [first] = lead_ingest_batch(workspace=workspace, rows=[row(0)])
    Suppression.objects.create(kind="phone", value="+13122000001")
    with protocol_trace(connection) as trace:
        results = lead_ingest_batch(workspace=workspace, rows=[row(n) for n in range(many)])
    assert (results[0].status, results[0].duplicate_of) == ("duplicate", first.id)
    assert results[1].status == "suppressed"
    assert {r.status for r in results[2:]} == {"created"}
    sent = " ".join(simple_queries(trace))
    assert "EXECUTE" not in sent
    assert "dedupe_hash = ANY(" in sent and "pg_advisory_xact_lock" in sent


def test_the_prepared_suppression_matchs_plan_reads_an_index(workspace):
    """A do-not-contact list holds millions of numbers: the plan made once reads an index
    of the values asked for, whatever they are."""
    Suppression.objects.bulk_create(
        Suppression(kind="phone", value=f"+1415555{n:04d}", workspace=workspace)
        for n in range(3000)
    )
    lead_ingest_batch(workspace=workspace, rows=[row(1)])  # prepares the statement
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_suppression")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(
            f"EXPLAIN EXECUTE {intake_sql.SUPPRESSED.name} (%s, %s, %s, %s, %s)",
            [workspace.id, "phone", ["+14155550001"], "email", []],
        )
        plan = "\n".join(line for (line,) in cursor.fetchall())
    # by the value: the unique (kind, value, workspace) index or the value's own, not every
    # suppression of the workspace and every global one
    assert "suppression_unique" in plan or "suppression_value_idx" in plan, plan
    assert "workspace_id_" not in plan and "Seq Scan" not in plan, plan
