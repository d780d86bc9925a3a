"""Per-workspace API limits: a rate per minute and requests in flight, in the real Redis."""

import json
import threading
import time

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from config.wsgi import application  # at import: its django.setup() reconfigures logging
from core.parking import take_parking
from core.ratelimit import (
    admit,
    forget_refusals,
    has_refusals,
    rate_retry_after,
    release,
    remember_refusal,
    remembered_refusal,
    slots_in_use,
)
from leads import fastpath
from leads.models import ApiKey, Workspace
from leads.throttling import workspace_scope
from tests.conftest import make_api_key

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/"
T0 = 1_800_000_015.0  # 15 s into a minute


def client_for(workspace: Workspace) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_api_key(workspace)}")
    return client


def limit(workspace: Workspace, *, rate=None, concurrent=None) -> Workspace:
    workspace.api_rate_per_minute = rate
    workspace.api_max_concurrent = concurrent
    workspace.save()
    return workspace


def test_over_the_rate_is_429_with_retry_after_and_the_error_shape(workspace, partner_workspace):
    flooder = client_for(limit(workspace, rate=3))
    other = client_for(partner_workspace)

    assert [flooder.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    refused = flooder.get(URL)

    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 120
    body = refused.json()
    assert body["code"] == "throttled"
    assert "3 API requests per minute" in body["message"]
    assert body["errors"] == {}
    assert other.get(URL).status_code == 200  # another workspace is not limited by it


def test_every_key_of_a_workspace_shares_its_limit(workspace):
    limit(workspace, rate=2)
    first, second = client_for(workspace), client_for(workspace)
    assert first.get(URL).status_code == 200
    assert second.get(URL).status_code == 200
    assert first.get(URL).status_code == 429
    assert second.get(URL).status_code == 429


def test_empty_workspace_fields_take_the_settings(workspace, settings):
    settings.API_RATE_PER_MINUTE = 2
    client = client_for(workspace)
    assert [client.get(URL).status_code for _ in range(3)] == [200, 200, 429]


def test_zero_means_no_limit(workspace, settings):
    settings.API_RATE_PER_MINUTE = 1
    settings.API_MAX_CONCURRENT = 1
    client = client_for(limit(workspace, rate=0, concurrent=0))
    assert [client.get(URL).status_code for _ in range(5)] == [200] * 5


def test_staff_session_users_are_not_limited(admin_client, workspace, settings):
    settings.API_RATE_PER_MINUTE = 1
    codes = [admin_client.get(URL, {"workspace": "acme"}).status_code for _ in range(3)]
    assert codes == [200, 200, 200]


def test_a_request_in_flight_holds_a_slot_and_the_next_one_is_429(workspace):
    client = client_for(limit(workspace, concurrent=1))
    scope = workspace_scope(workspace.pk)
    in_flight = admit(scope=scope, per_minute=0, max_concurrent=1, slot_seconds=60)
    assert in_flight.allowed

    refused = client.get(URL)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert "1 API requests in flight" in refused.json()["message"]
    release(scope=scope, token=in_flight.token)
    assert client.get(URL).status_code == 200
    assert slots_in_use(scope=scope) == 0  # the finished request gave its slot back


def test_the_slot_is_released_when_the_view_fails(workspace, monkeypatch):
    client = client_for(limit(workspace, concurrent=1))
    client.raise_request_exception = False

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("leads.api.views.lead_get", broken)
    assert client.get(f"{URL}1/").status_code == 500
    assert client.get(f"{URL}1/history/").status_code == 500
    assert slots_in_use(scope=workspace_scope(workspace.pk)) == 0
    monkeypatch.undo()
    assert client.get(f"{URL}999/").status_code == 404
    assert slots_in_use(scope=workspace_scope(workspace.pk)) == 0


def test_a_slot_never_released_expires():
    crashed = admit(scope="t", per_minute=0, max_concurrent=1, slot_seconds=90, now=T0)
    assert crashed.allowed
    assert not admit(
        scope="t", per_minute=0, max_concurrent=1, slot_seconds=90, now=T0 + 89
    ).allowed
    assert admit(scope="t", per_minute=0, max_concurrent=1, slot_seconds=90, now=T0 + 91).allowed


def test_retry_after_is_when_the_next_request_fits():
    for _ in range(10):
        assert admit(scope="r", per_minute=10, max_concurrent=0, slot_seconds=1, now=T0).allowed
    refused = admit(scope="r", per_minute=10, max_concurrent=0, slot_seconds=1, now=T0)
    assert refused.reason == "rate"
    # The minute is full: next minute its 10 requests weigh 10 x (1 - elapsed/60) < 10 - 1.
    assert (
        refused.retry_after == 51 == rate_retry_after(limit=10, previous=0, current=10, elapsed=15)
    )
    wait = refused.retry_after
    assert not admit(
        scope="r", per_minute=10, max_concurrent=0, slot_seconds=1, now=T0 + wait - 1
    ).allowed
    assert admit(scope="r", per_minute=10, max_concurrent=0, slot_seconds=1, now=T0 + wait).allowed


def test_refused_requests_do_not_count():
    for _ in range(20):
        admit(scope="c", per_minute=5, max_concurrent=0, slot_seconds=1, now=T0)
    # Only the 5 admitted count: 45 s into the next minute they weigh 5 x 0.25, room for 3
    # more (had the 15 refused counted too, 20 x 0.25 would leave room for none).
    later = [
        admit(scope="c", per_minute=5, max_concurrent=0, slot_seconds=1, now=T0 + 90).allowed
        for _ in range(5)
    ]
    assert later == [True, True, True, False, False]


@pytest.mark.parametrize(("per_minute", "max_concurrent", "expected"), [(10, 0, 10), (0, 5, 5)])
def test_limits_hold_under_concurrent_requests(per_minute, max_concurrent, expected):
    threads_n = 30
    barrier = threading.Barrier(threads_n)
    results: list[bool] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait(timeout=10)
        admission = admit(
            scope="x", per_minute=per_minute, max_concurrent=max_concurrent, slot_seconds=60
        )
        with lock:
            results.append(admission.allowed)

    threads = [threading.Thread(target=one) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == threads_n
    assert results.count(True) == expected


def test_redis_down_admits_and_logs(workspace, settings, caplog):
    limit(workspace, rate=1, concurrent=1)
    client = client_for(workspace)
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
        }
    }
    assert [client.get(URL).status_code for _ in range(2)] == [200, 200]
    assert "rate limit not checked" in caplog.text


def test_limits_are_set_per_workspace_in_admin(admin_client, workspace):
    url = f"/admin/leads/workspace/{workspace.pk}/change/"
    form = {
        "name": workspace.name,
        "slug": workspace.slug,
        "kind": workspace.kind,
        "timezone": "UTC",
        "is_active": "on",
        "api_rate_per_minute": "120",
        "api_max_concurrent": "2",
        "api_keys-TOTAL_FORMS": "0",
        "api_keys-INITIAL_FORMS": "0",
    }
    page = admin_client.get(url)
    assert b"api_rate_per_minute" in page.content and b"api_max_concurrent" in page.content

    assert admin_client.post(url, form).status_code == 302
    workspace.refresh_from_db()
    assert (workspace.api_rate_per_minute, workspace.api_max_concurrent) == (120, 2)

    bad = admin_client.post(url, {**form, "api_rate_per_minute": "-5"})
    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors["api_rate_per_minute"]


def test_cache_prefix_keeps_limit_keys_clearable():
    admit(scope="p", per_minute=5, max_concurrent=5, slot_seconds=60)
    assert cache.keys("ratelimit:*")


def test_refused_requests_are_not_logged_one_by_one(workspace, caplog):
    client = client_for(limit(workspace, rate=1))
    client.get(URL)
    with caplog.at_level("WARNING", logger="django.request"):
        assert [client.get(URL).status_code for _ in range(3)] == [429] * 3
    assert "Too Many Requests" not in caplog.text


# A key refused for its rate is refused again by the same process before Django
# (leads/fastpath.py), for API_REFUSAL_MEMO_SECONDS at most and never past its Retry-After.


@pytest.fixture
def no_refusals():
    forget_refusals()
    yield
    forget_refusals()


def wsgi(app, key: str, path: str = URL) -> tuple[str, dict, dict]:
    seen: dict = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(
        app(
            {"REQUEST_METHOD": "POST", "PATH_INFO": path, "HTTP_AUTHORIZATION": f"Api-Key {key}"},
            start_response,
        )
    )
    return seen["status"], seen["headers"], json.loads(body) if body else {}


def recorder() -> tuple[list, object]:
    calls: list = []

    def django_app(environ, start_response):
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b""]

    return calls, django_app


def test_a_key_refused_for_its_rate_is_refused_again_before_django(
    workspace, partner_workspace, no_refusals
):
    limit(workspace, rate=1)
    key = make_api_key(workspace)
    flooder = APIClient()
    flooder.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert flooder.get(URL).status_code == 200
    refused = flooder.get(URL)
    assert refused.status_code == 429

    calls, django_app = recorder()
    app = fastpath.wrap(django_app)
    status, headers, body = wsgi(app, key)

    assert calls == []  # Django never saw it
    assert status == "429 Too Many Requests"
    assert 1 <= int(headers["Retry-After"]) <= int(refused["Retry-After"])
    assert headers["Content-Type"] == "application/json"
    seconds = int(headers["Retry-After"])
    assert body == {
        **refused.json(),
        "message": refused.json()["message"].replace(refused["Retry-After"], str(seconds)),
    }
    # Another workspace's key and the same key outside the API go through.
    wsgi(app, make_api_key(partner_workspace))
    wsgi(app, key, path="/admin/")
    assert calls == [URL, "/admin/"]


def test_the_refusal_is_forgotten_after_the_memo_and_never_outlives_retry_after(
    settings, no_refusals
):
    settings.API_REFUSAL_MEMO_SECONDS = 1.0
    remember_refusal("long", retry_after=60, message="over")
    remember_refusal("short", retry_after=1, message="over")
    now = time.monotonic()
    assert remembered_refusal("long", now=now) == (60, "over")
    assert remembered_refusal("long", now=now + 1.01) is None  # asks Redis again after 1 s
    settings.API_REFUSAL_MEMO_SECONDS = 5.0
    remember_refusal("short", retry_after=1, message="over")
    assert remembered_refusal("short", now=time.monotonic() + 1.01) is None  # not past 1 s
    settings.API_REFUSAL_MEMO_SECONDS = 0
    remember_refusal("off", retry_after=60, message="over")
    assert remembered_refusal("off") is None


def test_a_concurrency_refusal_is_not_remembered(workspace, no_refusals):
    client = client_for(limit(workspace, concurrent=1))
    in_flight = admit(
        scope=workspace_scope(workspace.pk), per_minute=0, max_concurrent=1, slot_seconds=60
    )
    assert client.get(URL).status_code == 429  # the slot is taken: momentary, not remembered
    assert not has_refusals()
    release(scope=workspace_scope(workspace.pk), token=in_flight.token)
    assert client.get(URL).status_code == 200


def test_the_served_application_answers_a_remembered_key_without_django(no_refusals):
    key = "lb_nosuch_key"  # not in the database: Django would answer 401
    remember_refusal(ApiKey.hash(key), retry_after=30, message="over its limit")
    status, headers, body = wsgi(application, key)
    assert status.startswith("429")
    assert headers["Retry-After"] == "30"
    assert body == {
        "code": "throttled",
        "message": "over its limit Expected available in 30 seconds.",
        "errors": {},
    }


# A refused request's connection is parked (core.parking): read again only after
# API_REFUSAL_PARK_SECONDS, never past its Retry-After. The worker's side is in
# tests/core/test_parking.py; here, which answers ask for it.


def parked_for() -> float:
    """Seconds from now the current request's connection was parked for (0: not parked)."""
    until = take_parking()
    return max(0.0, until - time.monotonic()) if until else 0.0


def test_refusals_park_the_connection_and_admissions_do_not(
    settings, workspace, partner_workspace, no_refusals
):
    settings.API_REFUSAL_PARK_SECONDS = 1.0
    key = make_api_key(limit(workspace, rate=1))
    flooder = APIClient()
    flooder.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    take_parking()
    assert flooder.get(URL).status_code == 200
    assert parked_for() == 0.0
    refused = flooder.get(URL)  # refused in Django, by Redis
    assert refused.status_code == 429
    assert 0.9 < parked_for() <= 1.0
    status, _, _ = wsgi(fastpath.wrap(recorder()[1]), key)
    assert status.startswith("429")  # refused again before Django: parked as well
    assert 0.9 < parked_for() <= 1.0
    assert client_for(partner_workspace).get(URL).status_code == 200
    assert parked_for() == 0.0


def test_a_concurrency_refusal_parks_for_its_retry_after(settings, workspace, no_refusals):
    settings.API_REFUSAL_PARK_SECONDS = 5.0
    client = client_for(limit(workspace, concurrent=1))
    in_flight = admit(
        scope=workspace_scope(workspace.pk), per_minute=0, max_concurrent=1, slot_seconds=60
    )
    take_parking()
    assert client.get(URL).status_code == 429
    assert 0.9 < parked_for() <= 1.0  # Retry-After: 1, under the setting's 5 s
    release(scope=workspace_scope(workspace.pk), token=in_flight.token)


def test_parking_off(settings, workspace, no_refusals):
    key = make_api_key(limit(workspace, rate=1))
    flooder = APIClient()
    flooder.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    take_parking()
    flooder.get(URL)
    settings.API_REFUSAL_PARK_SECONDS = 0.5
    assert flooder.get(URL).status_code == 429
    assert 0.4 < parked_for() <= 0.5  # on: the setting, under the Retry-After
    settings.API_REFUSAL_PARK_SECONDS = 0
    assert flooder.get(URL).status_code == 429
    assert parked_for() == 0.0  # off
    assert wsgi(fastpath.wrap(recorder()[1]), key)[0].startswith("429")
    assert parked_for() == 0.0
