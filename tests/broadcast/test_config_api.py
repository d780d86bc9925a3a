"""Devices and sequences in the configuration API: a manager key sets them up for its own
workspace, the gateway key and webhook secret are write-only, the admin's device form and
step formset answer 400 per field, and lists take a fixed number of queries."""

import pytest

from broadcast import services
from broadcast.models import Device, Sequence, Step
from tests.broadcast.fixtures import make_device, make_sequence
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db

TOKEN = "gwKey-7781-secret"
HOOK_SECRET = "hookSecret-4411-x"


def device_body(gateway, **extra) -> dict:
    return {
        "name": "wa-1",
        "phone": "+15550001111",
        "gateway_url": gateway.url,
        "gateway_session": "s1",
        "gateway_token": TOKEN,
        "webhook_secret": HOOK_SECRET,
        **extra,
    }


def assert_no_secret(response) -> None:
    body = response.content.decode()
    assert TOKEN not in body and HOOK_SECRET not in body, body


def test_a_plain_key_reads_sequences_but_configures_nothing(api_client, workspace, gateway):
    make_sequence(workspace)
    assert api_client.get("/api/v1/broadcast/sequences/").status_code == 200
    assert api_client.post("/api/v1/broadcast/sequences/", {"name": "x"}).status_code == 403
    assert api_client.get("/api/v1/broadcast/devices/").status_code == 403
    assert api_client.post("/api/v1/broadcast/devices/", device_body(gateway)).status_code == 403


def test_create_list_update_delete_a_device(manager, workspace, gateway):
    created = manager.post("/api/v1/broadcast/devices/", device_body(gateway), format="json")
    assert created.status_code == 201, created.json()
    assert_no_secret(created)
    body = created.json()
    assert body["workspace"] == "acme" and body["has_gateway_token"]
    assert body["generated_webhook_secret"] is None  # one was given
    device = Device.objects.get(pk=body["id"])
    assert (device.gateway_token, device.webhook_secret) == (TOKEN, HOOK_SECRET)

    listed = manager.get("/api/v1/broadcast/devices/")
    assert [row["id"] for row in listed.json()["results"]] == [device.pk]
    assert_no_secret(listed)
    assert_no_secret(manager.get(f"/api/v1/broadcast/devices/{device.pk}/"))

    path = f"/api/v1/broadcast/devices/{device.pk}/"
    patched = manager.patch(path, {"daily_cap": 50, "status": "paused"}, format="json")
    assert patched.status_code == 200, patched.json()
    assert_no_secret(patched)
    device.refresh_from_db()
    assert device.daily_cap == 50 and device.status == "paused"
    assert device.status_reason.startswith("set by api:")  # through the status write path
    assert (device.gateway_token, device.webhook_secret) == (TOKEN, HOOK_SECRET)  # kept
    manager.patch(path, {"clear_gateway_token": True}, format="json")
    device.refresh_from_db()
    assert device.gateway_token == "" and device.webhook_secret == HOOK_SECRET

    assert manager.delete(path).status_code == 204
    assert not Device.objects.exists()


def test_a_generated_webhook_secret_is_answered_once(manager, gateway):
    body = device_body(gateway)
    del body["webhook_secret"]
    created = manager.post("/api/v1/broadcast/devices/", body, format="json").json()
    device = Device.objects.get(pk=created["id"])
    assert created["generated_webhook_secret"] == device.webhook_secret
    again = manager.get(f"/api/v1/broadcast/devices/{device.pk}/").json()
    assert again["generated_webhook_secret"] is None
    assert device.webhook_secret not in str(again)


def test_device_validation_is_the_admin_form(manager, gateway, caplog):
    caplog.set_level("DEBUG")
    bad = manager.post(
        "/api/v1/broadcast/devices/",
        device_body(gateway, min_interval_seconds=10, max_interval_seconds=5),
        format="json",
    )
    assert bad.status_code == 400
    assert "max_interval_seconds" in bad.json()["errors"]
    assert_no_secret(bad)
    both = manager.post(
        "/api/v1/broadcast/devices/", device_body(gateway, clear_gateway_token=True), format="json"
    )
    assert both.status_code == 400 and "clear_gateway_token" in both.json()["errors"]
    assert_no_secret(both)
    url = manager.post(
        "/api/v1/broadcast/devices/", device_body(gateway, gateway_url="nope"), format="json"
    )
    assert url.status_code == 400 and "gateway_url" in url.json()["errors"]
    assert not Device.objects.exists()
    assert TOKEN not in caplog.text and HOOK_SECRET not in caplog.text  # never logged


def test_a_key_never_sees_or_changes_another_workspace_device(
    manager, other_manager, other, gateway
):
    theirs = make_device(other, gateway)
    path = f"/api/v1/broadcast/devices/{theirs.pk}/"
    assert manager.get("/api/v1/broadcast/devices/").json()["results"] == []
    assert manager.get(path).status_code == 404
    assert manager.patch(path, {"daily_cap": 1}, format="json").status_code == 404
    assert manager.delete(path).status_code == 404
    theirs.refresh_from_db()
    assert theirs.daily_cap == 1000
    foreign = manager.post(
        "/api/v1/broadcast/devices/", device_body(gateway, workspace="other"), format="json"
    )
    assert foreign.status_code == 400 and "workspace" in foreign.json()["errors"]


SEQUENCE = {
    "name": "Solar drip",
    "window_start": "09:00",
    "window_end": "20:00",
    "placeholder_defaults": {"promo": "SUN10"},
    "stop_statuses": ["sale", "dnc"],
    "steps": [
        {"position": 1, "template": "Hi {first_name}, code {promo}"},
        {"position": 2, "delay_minutes": 1440, "template": "Still there?"},
    ],
}


def test_create_list_update_delete_a_sequence(manager, workspace, gateway):
    device = make_device(workspace, gateway)
    created = manager.post(
        "/api/v1/broadcast/sequences/", {**SEQUENCE, "devices": [device.pk]}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["workspace"] == "acme" and body["devices"] == [device.pk]
    assert [s["position"] for s in body["steps"]] == [1, 2]
    sequence = Sequence.objects.get(pk=body["id"])
    assert sequence.steps.get(position=2).delay_minutes == 1440

    listed = manager.get("/api/v1/broadcast/sequences/").json()
    assert [row["id"] for row in listed] == [sequence.pk]
    path = f"/api/v1/broadcast/sequences/{sequence.pk}/"
    renamed = manager.patch(path, {"name": "Solar drip 2"}, format="json")
    assert renamed.status_code == 200, renamed.json()
    assert sequence.steps.count() == 2  # steps not given: kept
    assert Sequence.objects.get().devices.get() == device  # devices not given: kept
    replaced = manager.patch(
        path, {"steps": [{"position": 1, "template": "Only {first_name}"}]}, format="json"
    )
    assert replaced.status_code == 200, replaced.json()
    assert list(sequence.steps.values_list("template", flat=True)) == ["Only {first_name}"]
    assert manager.delete(path).status_code == 204
    assert not Sequence.objects.exists()


def test_sequence_validation_is_the_admin_form_and_step_formset(manager):
    unknown = manager.post(
        "/api/v1/broadcast/sequences/",
        {**SEQUENCE, "steps": [{"position": 1, "template": "Hi {nickname}"}]},
        format="json",
    )
    assert unknown.status_code == 400
    assert "template" in unknown.json()["errors"]["steps"]["0"]
    twice = manager.post(
        "/api/v1/broadcast/sequences/",
        {**SEQUENCE, "steps": [{"position": 1, "template": "a"}, {"position": 1, "template": "b"}]},
        format="json",
    )
    assert twice.status_code == 400 and "steps" in twice.json()["errors"]
    statuses = manager.post(
        "/api/v1/broadcast/sequences/",
        {**SEQUENCE, "stop_statuses": ["married"], "window_end": "09:00"},
        format="json",
    )
    assert statuses.status_code == 400
    assert {"stop_statuses", "window_end"} <= set(statuses.json()["errors"])
    # the steps are checked against the defaults being saved: dropping {promo} breaks step 1
    assert not Sequence.objects.exists()
    good = manager.post("/api/v1/broadcast/sequences/", SEQUENCE, format="json").json()
    dropped = manager.patch(
        f"/api/v1/broadcast/sequences/{good['id']}/",
        {"placeholder_defaults": {}, "steps": SEQUENCE["steps"]},
        format="json",
    )
    assert dropped.status_code == 400 and "0" in dropped.json()["errors"]["steps"]


def test_a_key_never_sees_or_changes_another_workspace_sequence(manager, other, workspace, gateway):
    theirs = make_sequence(other)
    their_device = make_device(other, gateway, n=2)
    path = f"/api/v1/broadcast/sequences/{theirs.pk}/"
    assert manager.get("/api/v1/broadcast/sequences/").json() == []
    assert manager.get(path).status_code == 404
    assert manager.patch(path, {"name": "x"}, format="json").status_code == 404
    assert manager.delete(path).status_code == 404
    assert Sequence.objects.get(pk=theirs.pk).name == "Welcome"
    foreign_device = manager.post(
        "/api/v1/broadcast/sequences/", {**SEQUENCE, "devices": [their_device.pk]}, format="json"
    )
    assert foreign_device.status_code == 400 and "devices" in foreign_device.json()["errors"]


def test_a_sequence_someone_was_enrolled_in_cannot_be_deleted(manager, workspace, gateway):
    make_device(workspace, gateway)
    sequence = make_sequence(workspace)
    services.enrollment_create_many(lead_ids=make_leads(workspace, 1), sequence_id=sequence.pk)
    response = manager.delete(f"/api/v1/broadcast/sequences/{sequence.pk}/")
    assert response.status_code == 409 and response.json()["code"] == "in_use"
    device = Device.objects.get()
    assert manager.delete(f"/api/v1/broadcast/devices/{device.pk}/").status_code == 409


def test_lists_take_a_fixed_number_of_queries(
    manager, workspace, gateway, django_assert_max_num_queries
):
    for n in range(5):
        device = make_device(workspace, gateway, n=n + 1)
        sequence = make_sequence(workspace, "a", "b", name=f"seq {n}")
        sequence.devices.set([device])
    manager.get("/api/v1/broadcast/devices/")
    with django_assert_max_num_queries(3):
        assert len(manager.get("/api/v1/broadcast/devices/").json()["results"]) == 5
    with django_assert_max_num_queries(5):
        rows = manager.get("/api/v1/broadcast/sequences/").json()
    assert len(rows) == 5 and all(len(row["steps"]) == 2 for row in rows)
    assert Step.objects.count() == 10


def test_a_device_pause_longer_than_a_day_is_refused(manager, gateway):
    """The fuzz found a 500: an interval of 2**40 s overflowed the enrollment's pacing."""
    huge = manager.post(
        "/api/v1/broadcast/devices/",
        device_body(gateway, min_interval_seconds=10, max_interval_seconds=2**40),
        format="json",
    )
    assert huge.status_code == 400
    assert "max_interval_seconds" in huge.json()["errors"]
    day = manager.post(
        "/api/v1/broadcast/devices/",
        device_body(gateway, min_interval_seconds=10, max_interval_seconds=86_400),
        format="json",
    )
    assert day.status_code == 201
