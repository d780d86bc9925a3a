"""The admin CSV import: capped, streamed in batches of 1,000, reported per row, and safe
from a broker or cache outage once rows are committed."""

import io

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile

from config.celery import app as celery_app
from leads import csv_import as csv_import_module
from leads.csv_import import csv_import
from leads.models import Lead, Suppression
from simulators.http import closed_port

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/leads/lead/import-csv/"


def csv_bytes(n: int, start: int = 0, header: str = "phone,first_name") -> bytes:
    rows = [header] + [f"+1415{2000000 + i:07d},Name{i}" for i in range(start, start + n)]
    return ("\n".join(rows) + "\n").encode()


def upload(admin_client, workspace, content: bytes):
    return admin_client.post(
        IMPORT_URL,
        {"workspace": workspace.pk, "file": SimpleUploadedFile("leads.csv", content)},
        follow=True,
    )


def messages_of(response) -> str:
    return " | ".join(str(m) for m in get_messages(response.wsgi_request))


def report_lines(admin_client, text: str) -> list[str]:
    token = text.split("/import-csv/report/")[1].split("/")[0]
    return admin_client.get(f"{IMPORT_URL}report/{token}/").content.decode().splitlines()


class ReadSpy(io.BytesIO):
    """A file that records how much each read asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int | None] = []

    def read(self, size=-1):
        self.sizes.append(size)
        return super().read(size)

    def read1(self, size=-1):
        self.sizes.append(size)
        return super().read1(size)

    def readinto(self, buffer):
        self.sizes.append(len(buffer))
        return super().readinto(buffer)


def test_a_file_over_the_cap_is_a_form_error(admin_client, workspace, settings):
    settings.CSV_IMPORT_MAX_BYTES = 100
    response = upload(admin_client, workspace, csv_bytes(10))
    assert response.status_code == 200
    assert "the limit is 100" in response.content.decode()
    assert not Lead.objects.exists()


def test_a_body_far_over_the_cap_is_refused_before_it_is_read(admin_client, workspace, settings):
    settings.CSV_IMPORT_MAX_BYTES = 100
    response = admin_client.post(
        IMPORT_URL, data=b"x", content_type="text/csv", CONTENT_LENGTH=str(3 * 1024 * 1024)
    )
    assert response.status_code == 413


def test_the_file_is_streamed_in_bounded_reads_and_batches_of_1000(workspace, monkeypatch):
    batches = []
    real = csv_import_module.lead_ingest_batch

    def spy(**kwargs):
        batches.append(len(kwargs["rows"]))
        return real(**kwargs)

    monkeypatch.setattr(csv_import_module, "lead_ingest_batch", spy)
    data = csv_bytes(2500)
    file = ReadSpy(data)
    summary = csv_import(workspace=workspace, file=file, actor="t")
    assert batches == [1000, 1000, 500]
    assert summary.counts == {"created": 2500} and summary.rows == 2500
    assert file.sizes and all(size is not None and 0 < size <= 65536 for size in file.sizes)
    assert len(file.sizes) > 1  # not one read of the whole file
    assert not file.closed  # the caller's file is left open


def test_each_row_gets_the_apis_answer(admin_client, workspace):
    Suppression.objects.create(kind="phone", value="+14152000003", workspace=None)
    content = (
        b"phone,first_name\n"
        b"+14152000001,Ana\n"
        b"+14152000001,Ana again\n"
        b"12,Bad\n"
        b"+14152000003,Opted out\n"
        b"+14152000004,Nul\x00Name\n"
        b"+14152000005,Last\n"
    )
    response = upload(admin_client, workspace, content)
    text = messages_of(response)
    assert "2 created" in text and "1 duplicate" in text and "1 suppressed" in text
    assert "2 rejected" in text
    lines = report_lines(admin_client, text)
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["2", "created"],
        ["3", "duplicate"],
        ["4", "rejected"],
        ["5", "suppressed"],
        ["6", "rejected"],
        ["7", "created"],
    ]
    assert "NUL" in lines[5]
    stored = set(Lead.objects.values_list("first_name", "status"))
    assert stored == {("Ana", "pending"), ("Last", "pending"), ("Opted out", "suppressed")}


def test_invalid_utf8_after_the_first_batch_keeps_what_was_imported(workspace):
    content = csv_bytes(1500) + "+14159999999,Jos\xe9\n".encode("latin-1")
    summary = csv_import(workspace=workspace, file=io.BytesIO(content), actor="t")
    assert summary.counts["created"] >= 1000
    assert summary.counts["rejected"] == 1
    assert Lead.objects.count() == summary.counts["created"]


@pytest.fixture
def broker_down(monkeypatch):
    """The Celery broker points at a port nothing listens on."""
    monkeypatch.setattr(celery_app.conf, "broker_url", f"redis://127.0.0.1:{closed_port()}/0")
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    yield
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def test_a_broker_outage_is_not_a_500_after_rows_were_committed(
    admin_client, workspace, broker_down, monkeypatch
):
    announced = []
    real = csv_import_module.leads_announce

    def spy(**kwargs):
        ok = real(**kwargs)
        announced.append(ok)
        return ok

    monkeypatch.setattr(csv_import_module, "leads_announce", spy)
    response = upload(admin_client, workspace, csv_bytes(2500))
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].endswith("/admin/leads/lead/")
    assert Lead.objects.count() == 2500
    assert "task queue is unavailable" in messages_of(response)
    assert announced == [False]  # asked once, not once per batch


def test_a_cache_outage_still_reports_the_import(admin_client, workspace, settings):
    content = csv_bytes(2) + b"12,Bad\n"
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    response = upload(admin_client, workspace, content)
    assert response.status_code == 200
    text = messages_of(response)
    assert "2 created" in text and "could not be stored" in text and "row 4: phone" in text
    assert Lead.objects.count() == 2
