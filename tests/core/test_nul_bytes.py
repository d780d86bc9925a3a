"""A NUL byte anywhere in the input is a clear 400 at the door (PostgreSQL refuses NUL in
text and JSON: past the door it would be a 500)."""

from urllib.parse import urlencode

import pytest

from leads.models import Lead, Suppression

pytestmark = pytest.mark.django_db


def assert_nul_400(response, where):
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "nul_byte"
    assert where in body["message"]


@pytest.mark.parametrize("query", ["phone=%00", "phone=a%00b", "email=x&status=new%00"])
def test_a_nul_in_the_query_string(api_client, query):
    assert_nul_400(api_client.get(f"/api/v1/leads/?{query}"), "query string")


def test_a_nul_in_the_path(api_client):
    assert_nul_400(api_client.get("/api/v1/leads/1%00/history/"), "path")


def test_an_escaped_percent_is_not_a_nul(api_client):
    assert api_client.get("/api/v1/leads/?email=%2500").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        '{"phone": "+12134567890", "first_name": "A\\u0000"}',
        '{"phone": "+12134567890", "custom": {"k\\u0000": "v"}}',
        '[{"phone": "+12134567890", "custom": {"k": ["\\u0000"]}}]',
    ],
)
def test_a_nul_in_json(api_client, body):
    url = "/api/v1/leads/bulk/" if body.startswith("[") else "/api/v1/leads/"
    response = api_client.post(url, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "nul_byte"
    assert not Lead.objects.exists()


def test_a_nul_in_an_admin_form_urlencoded(admin_client):
    response = admin_client.post(
        "/admin/leads/suppression/add/",
        urlencode({"kind": "email", "value": "a\x00@example.com"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert_nul_400(response, "form body")
    assert not Suppression.objects.exists()


def test_a_nul_in_an_admin_form_multipart(admin_client):
    response = admin_client.post(
        "/admin/leads/suppression/add/", {"kind": "email", "value": "a\x00@example.com"}
    )
    assert_nul_400(response, "form body")


def test_a_nul_in_the_admin_login(client, django_user_model):
    response = client.post("/admin/login/", {"username": "ad\x00min", "password": "x"})
    assert_nul_400(response, "form body")
