"""What the schema fuzz found, pinned: the schema documents every answer the API gives."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from core.timezones import storable_datetime
from tests.conftest import make_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(workspace):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(workspace, is_staff=True)}")
    return client


@pytest.fixture(scope="module")
def document():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_every_operation_documents_its_errors(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert {"400", "401", "403"} <= set(responses), (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            if method in ("post", "patch"):
                assert {"409", "413"} <= set(responses), (method, path)
    assert document["components"]["schemas"]["Error"]["required"] == ["code", "message", "errors"]


def test_times_are_wall_clock_strings(document):
    window = document["components"]["schemas"]["Sequence"]["properties"]["window_start"]
    assert "format" not in window and window["pattern"].startswith("^([01]")


def test_the_rule_list_is_documented_as_the_page_it_answers(document, staff_client):
    ok = document["paths"]["/api/v1/routing/rules/"]["get"]["responses"]["200"]
    ref = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    page = document["components"]["schemas"][ref]
    assert {"count", "next", "previous", "results"} <= set(page["properties"])
    body = staff_client.get("/api/v1/routing/rules/").json()
    assert set(body) == {"count", "next", "previous", "results"}


def test_an_unknown_api_path_is_a_json_404(api_client):
    response = api_client.get("/api/v1/broadcast/enrollments/abc/stop/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_broken_multipart_body_is_a_json_400(api_client):
    response = api_client.generic(
        "POST",
        "/api/v1/leads/bulk/",
        b"--x\r\nnot a part",
        content_type="multipart/form-data; boundary=x",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00+20:21", "0001-01-01T00:00:00+05:00"])
def test_a_datetime_postgresql_cannot_store_is_a_400(api_client, value):
    response = api_client.get("/api/v1/leads/", {"created_after": value})
    assert response.status_code == 400
    assert "created_after" in response.json()["errors"]


def test_storable_datetimes_are_utc():
    from datetime import UTC, datetime, timedelta, timezone

    value = datetime(2026, 1, 1, 14, tzinfo=timezone(timedelta(hours=14)))
    assert storable_datetime(value) == datetime(2026, 1, 1, tzinfo=UTC)
    assert storable_datetime(value).tzinfo is UTC


def test_a_consent_time_postgresql_cannot_store_rejects_the_lead(api_client):
    lead = {"phone": "+12134567890", "consent": {"at": "2026-01-01T00:00:00+20:21"}}
    response = api_client.post("/api/v1/leads/", lead, format="json")
    assert response.status_code == 400
    assert "consent" in response.json()["errors"]
