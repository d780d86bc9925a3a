"""Backups: written with pg_dump from one snapshot, restored into a fresh database, every
lead, event, call and message found again (live and archived)."""

import json
from datetime import UTC, date, datetime

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from broadcast.models import Message
from calllogs.models import CallLog
from core import pg
from core.backups import backup_create, backup_verify, backups_list
from core.errors import ApplicationError
from core.locks import lock_key
from core.partitions import ARCHIVE_SCHEMA, partition_archive, partition_ensure
from core.restore import backup_restore
from core.tasks import backup_nightly_task
from dialer.models import ViciServer
from leads.models import Lead, LeadEvent
from leads.services import EventSpec, lead_events_record
from tests.leads.factories import LeadFactory
from tests.pgtools import database_create, database_drop

pytestmark = pytest.mark.django_db(transaction=True)

OLD = datetime(2019, 7, 10, 12, tzinfo=UTC)
MODELS = (Lead, LeadEvent, CallLog, Message)
LABELS = ("leads.Lead", "leads.LeadEvent", "calllogs.CallLog", "broadcast.Message")


@pytest.fixture
def old_month():
    """Partitions of July 2019; dropped afterwards (a flush empties tables, it drops none)."""
    for model in MODELS:
        partition_ensure(model, start=date(2019, 7, 1), months=1)
    yield
    with connection.cursor() as cursor:
        for model in MODELS:
            name = f"{model._meta.db_table}_p201907"
            cursor.execute(f'DROP TABLE IF EXISTS "{ARCHIVE_SCHEMA}"."{name}", "{name}"')


def _rows(workspace, server, *, at=None, n: int) -> dict[str, list[int]]:
    extra = {"created_at": at, "updated_at": at} if at else {}
    leads = [LeadFactory(workspace=workspace, **extra) for _ in range(n)]
    lead_events_record(
        events=[EventSpec(lead_id=lead.pk, kind="created", message="in", at=at) for lead in leads]
    )
    calls = [
        CallLog.objects.create(
            server=server,
            uniqueid=f"{int((at or lead.created_at).timestamp())}.{lead.pk}",
            call_time=at or lead.created_at,
            lead_id=lead.pk,
            status="SALE",
        )
        for lead in leads
    ]
    messages = Message.objects.bulk_create(
        Message(
            scheduled_at=at or lead.created_at,
            created_at=at or lead.created_at,
            enrollment_id=lead.pk,
            device_id=1,
            lead_id=lead.pk,
            step=1,
            body=f"hi {lead.pk}",
            status="sent",
        )
        for lead in leads
    )
    events = LeadEvent.objects.filter(lead_id__in=[lead.pk for lead in leads])
    return {
        "leads.Lead": [lead.pk for lead in leads],
        "leads.LeadEvent": list(events.values_list("id", flat=True)),
        "calllogs.CallLog": [call.pk for call in calls],
        "broadcast.Message": [message.pk for message in messages],
    }


@pytest.fixture
def data(workspace, old_month):
    """3 live and 2 archived of each: leads, events, calls, messages."""
    server = ViciServer.objects.create(name="vici", api_url="http://127.0.0.1:9/", api_user="u")
    live = _rows(workspace, server, n=3)
    archived = _rows(workspace, server, at=OLD, n=2)
    for model in MODELS:
        assert partition_archive(model, older_than=datetime(2019, 9, 1, tzinfo=UTC))
    return live, archived


def _ids(conn, table: str) -> set[int]:
    return {row[0] for row in conn.execute(f"SELECT id FROM {table}")}


def test_backup_restores_into_a_fresh_database_with_every_row(data, tmp_path):
    live, archived = data
    backup = backup_create(directory=tmp_path)

    manifest = json.loads((backup.path / "manifest.json").read_text())
    assert manifest["counts"] == {
        **manifest["counts"],
        **{label: {"live": 3, "archived": 2} for label in LABELS},
    }
    names = {entry["name"] for entry in manifest["files"]}
    assert names == {"database.dump"} | {
        f"archive/{model._meta.db_table}_p201907.dump" for model in MODELS
    }
    assert backup_verify(backup.path) == manifest  # sizes and SHA-256 as written

    target = f"{connection.settings_dict['NAME']}_restored"
    database_drop(target)
    db = {**connection.settings_dict, "NAME": target}
    url = "postgres://{USER}@{HOST}:{PORT}/{NAME}".format(**db)
    try:
        call_command("restore_backup", str(backup.path), "--database-url", url, "--create")
        with psycopg.connect(**pg.conninfo(db)) as conn:
            for model, label in zip(MODELS, LABELS, strict=True):
                table = model._meta.db_table
                assert _ids(conn, table) == set(live[label])
                assert _ids(conn, f"archive.{table}_p201907") == set(archived[label])
            bodies = conn.execute("SELECT body FROM broadcast_message ORDER BY id").fetchall()
            assert bodies == [(f"hi {lead_id}",) for lead_id in sorted(live["leads.Lead"])]
    finally:
        database_drop(target)


def test_a_damaged_backup_is_refused_before_restoring(data, tmp_path):
    backup = backup_create(directory=tmp_path)
    damaged = backup.path / "archive" / "leads_lead_p201907.dump"
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"X")
    with pytest.raises(ApplicationError, match="checksum differs"):
        backup_restore(path=backup.path, db={**connection.settings_dict, "NAME": "never_used"})


def test_restore_refuses_a_database_that_is_not_empty(tmp_path):
    backup = backup_create(directory=tmp_path)
    target = f"{connection.settings_dict['NAME']}_busy"
    database_create(target)
    db = {**connection.settings_dict, "NAME": target}
    try:
        with psycopg.connect(**pg.conninfo(db), autocommit=True) as conn:
            conn.execute("CREATE TABLE precious (id int)")
        with pytest.raises(ApplicationError, match="already has 1 tables"):
            backup_restore(path=backup.path, db=db)
    finally:
        database_drop(target)


def test_one_backup_at_a_time(tmp_path):
    with psycopg.connect(**pg.conninfo(connection.settings_dict)) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [lock_key("core.backup")])
        with pytest.raises(ApplicationError, match="already running"):
            backup_create(directory=tmp_path)
    assert not list(tmp_path.iterdir())


def test_nightly_task_writes_a_backup_and_keeps_the_newest(settings, tmp_path):
    settings.BACKUP_DIR = str(tmp_path)
    settings.BACKUP_KEEP = 2
    for stamp in ("20200101T000000Z", "20200102T000000Z", "20200103T000000Z"):
        (tmp_path / stamp).mkdir()
        (tmp_path / stamp / "manifest.json").write_text("{}")
    (tmp_path / "20200104T000000Z.partial").mkdir()  # a crashed run, long ago
    (tmp_path / "notes").mkdir()  # not a backup: never touched

    written = backup_nightly_task()

    assert [p.name for p in backups_list(tmp_path)] == ["20200103T000000Z", written[-16:]]
    assert {p.name for p in tmp_path.iterdir()} == {"20200103T000000Z", "notes", written[-16:]}


def test_no_backup_folder_means_no_nightly_backup(settings, caplog):
    settings.BACKUP_DIR = ""
    assert backup_nightly_task() == ""
    assert "no nightly backup" in caplog.text


def test_commands_answer_bad_input_plainly(tmp_path):
    with pytest.raises(CommandError, match="No backup folder"):
        call_command("restore_backup", str(tmp_path / "missing"))
    with pytest.raises(CommandError, match="is not a complete backup"):
        call_command("restore_backup", str(tmp_path))
    with pytest.raises(CommandError, match="at least 1"):
        call_command("backup", "--dir", str(tmp_path), "--keep", "0")
