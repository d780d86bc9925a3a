import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from broadcast import services
from broadcast.models import Device, Enrollment, EnrollmentRequest, Message, Sequence
from tests.broadcast.fixtures import dispatch_until, make_sequence
from tests.broadcast.test_webhook import post as post_webhook
from tests.conftest import make_member
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db


def sequence_form(workspace, template, **overrides):
    data = {
        "workspace": str(workspace.pk),
        "name": "Solar follow-up",
        "is_active": "on",
        "window_start": "09:00",
        "window_end": "21:00",
        "placeholder_defaults_key": ["promo", ""],
        "placeholder_defaults_value": ["SUN10", ""],
        "stop_on_reply": "on",
        "stop_statuses": ["sale", "dnc"],
        "steps-TOTAL_FORMS": "2",
        "steps-INITIAL_FORMS": "0",
        "steps-0-position": "1",
        "steps-0-delay_minutes": "0",
        "steps-0-template": "Hi {first_name}, code {promo}",
        "steps-1-position": "2",
        "steps-1-delay_minutes": "1440",
        "steps-1-template": template,
    }
    data.update(overrides)
    return data


def test_a_manager_builds_a_sequence_with_steps_and_sees_a_preview(admin_client, workspace):
    make_leads(workspace, 1, first_name="Maria")
    response = admin_client.post(
        "/admin/broadcast/sequence/add/", sequence_form(workspace, "Still keen, {first_name}?")
    )
    assert response.status_code == 302, response.context["errors"]
    sequence = Sequence.objects.get()
    assert list(sequence.steps.values_list("position", "delay_minutes")) == [(1, 0), (2, 1440)]
    page = admin_client.get(f"/admin/broadcast/sequence/{sequence.pk}/change/").content.decode()
    assert "Hi Maria, code SUN10" in page and "Still keen, Maria?" in page


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Hello {nickname}", "Unknown placeholder {nickname}"),
        ("Hello {first_name", "Write {{ and }} for literal braces"),
    ],
)
def test_bad_templates_are_form_errors_at_save_time(admin_client, workspace, template, message):
    response = admin_client.post(
        "/admin/broadcast/sequence/add/", sequence_form(workspace, template)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Sequence.objects.exists()


@pytest.mark.parametrize(
    ("keys", "values", "message"),
    [
        (["promo code"], ["X"], "“promo code” is not a placeholder name"),
        (["promo", "promo"], ["X", "Y"], "“promo” is given twice."),
        ([""], ["SUN10"], "Give the default text “SUN10” a placeholder name."),
        (["promo"], ["x" * 501], "longer than 500 characters"),
    ],
)
def test_bad_sequence_settings_are_form_errors(admin_client, workspace, keys, values, message):
    response = admin_client.post(
        "/admin/broadcast/sequence/add/",
        sequence_form(
            workspace,
            "ok",
            stop_statuses=["bogus"],
            placeholder_defaults_key=keys,
            placeholder_defaults_value=values,
        ),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"stop_statuses", "placeholder_defaults"}
    assert message in str(errors["placeholder_defaults"])
    assert not Sequence.objects.exists()


def test_statuses_and_placeholders_round_trip_through_the_form(admin_client, workspace):
    data = sequence_form(
        workspace,
        "Bye {first_name}",
        stop_statuses=["dnc", "callback"],
        placeholder_defaults_key=["promo", "", "first_name"],
        placeholder_defaults_value=[" SUN10 ", "", "there"],
    )
    assert admin_client.post("/admin/broadcast/sequence/add/", data).status_code == 302
    sequence = Sequence.objects.get()
    assert sequence.stop_statuses == ["callback", "dnc"]  # in the statuses' order
    assert sequence.placeholder_defaults == {"promo": "SUN10", "first_name": "there"}
    page = admin_client.get(f"/admin/broadcast/sequence/{sequence.pk}/change/")
    form = page.context["adminform"].form
    html = page.content.decode()
    assert 'name="placeholder_defaults_key" value="promo"' in html
    assert 'name="placeholder_defaults_value" value="SUN10"' in html
    assert 'value="callback" class="lb-statuses" id="id_stop_statuses_7" checked' in html
    assert 'value="sale" class="lb-statuses" id="id_stop_statuses_8">' in html
    assert not form.fields["placeholder_defaults"].has_changed(
        sequence.placeholder_defaults, [("promo", "SUN10"), ("first_name", "there"), ("", "")]
    )
    # Removing every row stores no placeholder; no status ticked: statuses never stop it.
    data.update(placeholder_defaults_key=[""], placeholder_defaults_value=[""], stop_statuses=[])
    data["steps-0-template"] = "Hi {first_name}"
    data["steps-1-template"] = "Bye {first_name}"
    data["steps-TOTAL_FORMS"] = "0"
    admin_client.post(f"/admin/broadcast/sequence/{sequence.pk}/change/", data)
    sequence.refresh_from_db()
    assert (sequence.placeholder_defaults, sequence.stop_statuses) == ({}, [])


def test_a_new_sequence_form_ticks_the_default_stop_statuses(admin_client):
    html = admin_client.get("/admin/broadcast/sequence/add/").content.decode()
    assert html.count('class="lb-statuses" id="id_stop_statuses_') == 11  # every status
    ticked = re.findall(
        r'value="(\w+)" class="lb-statuses" id="id_stop_statuses_\d+" checked', html
    )
    assert ticked == ["sale", "not_interested", "dnc"]


def test_devices_show_live_state_and_can_be_paused_and_resumed(
    admin_client, device, workspace, gateway
):
    sequence = make_sequence(workspace)
    services.enrollment_create_many(lead_ids=make_leads(workspace, 2), sequence_id=sequence.pk)
    dispatch_until(lambda: Message.objects.filter(status="sent").count() == 2)
    page = admin_client.get("/admin/broadcast/device/").content.decode()
    assert "Active" in page and '<td class="field-sends_today">2</td>' in page
    admin_client.post(
        "/admin/broadcast/device/", {"action": "pause", ACTION_CHECKBOX_NAME: [device.pk]}
    )
    device.refresh_from_db()
    assert device.status == "paused"
    admin_client.post(
        "/admin/broadcast/device/", {"action": "resume", ACTION_CHECKBOX_NAME: [device.pk]}
    )
    device.refresh_from_db()
    assert device.status == "active"
    assert admin_client.get(f"/admin/broadcast/device/{device.pk}/change/").status_code == 200


def test_device_form_refuses_a_backwards_pacing_window(admin_client, workspace, gateway):
    response = admin_client.post(
        "/admin/broadcast/device/add/",
        {
            "workspace": workspace.pk,
            "name": "d",
            "phone": "+15550001111",
            "channel": "whatsapp",
            "status": "active",
            "gateway_kind": "waha",
            "gateway_url": gateway.url,
            "gateway_session": "s",
            "webhook_secret": "x",
            "min_interval_seconds": "15",
            "max_interval_seconds": "5",
            "daily_cap": "100",
            "warmup_days": "0",
            "active_since": "2026-12-01",
        },
    )
    assert response.status_code == 200
    assert "max_interval_seconds" in response.context["adminform"].form.errors
    assert not Device.objects.exists()


def test_enroll_from_the_lead_changelist(admin_client, workspace, device):
    sequence = make_sequence(workspace)
    ids = make_leads(workspace, 3)
    data = {"action": "enroll_in_sequence", ACTION_CHECKBOX_NAME: ids}
    page = admin_client.post("/admin/leads/lead/", data)
    assert page.status_code == 200 and b"Enroll leads in a sequence" in page.content
    done = admin_client.post(
        "/admin/leads/lead/", {**data, "apply": "1", "sequence": sequence.pk}, follow=True
    )
    assert "Enrolled 3 lead(s)" in done.content.decode()
    assert Enrollment.objects.count() == 3


def test_enrollment_and_message_changelists_and_the_lead_page(
    admin_client, workspace, device, client, gateway
):
    sequence = make_sequence(workspace, "Hi {first_name}", "later", delays=(0, 60))
    ids = make_leads(workspace, 2, first_name="Zed")
    services.enrollment_create_many(lead_ids=ids, sequence_id=sequence.pk)
    dispatch_until(lambda: Message.objects.filter(status="sent").count() == 2)
    message = Message.objects.filter(lead_id=ids[0], status="sent").get()
    post_webhook(
        client, device, {"event": "message.ack", "payload": {"id": message.gateway_id, "ack": 3}}
    )
    for url in (
        "/admin/broadcast/enrollment/",
        "/admin/broadcast/enrollment/?status=active",
        "/admin/broadcast/message/",
        f"/admin/broadcast/message/?q={ids[0]}",
    ):
        assert admin_client.get(url).status_code == 200, url
    page = admin_client.get(f"/leads/{ids[0]}/").content.decode()
    assert "Hi Zed" in page and "Read" in page and "Welcome" in page
    assert page.count("<td>later</td>") == 1  # the pending successor is listed too
    stop = admin_client.post(
        "/admin/broadcast/enrollment/",
        {
            "action": "stop",
            ACTION_CHECKBOX_NAME: list(Enrollment.objects.values_list("id", flat=True)),
        },
    )
    assert stop.status_code == 302
    assert set(Enrollment.objects.values_list("status", flat=True)) == {"stopped"}


def test_pausing_many_devices_is_one_update(
    admin_client, workspace, gateway, django_assert_max_num_queries
):
    from tests.broadcast.fixtures import make_device

    ids = [make_device(workspace, gateway, n).pk for n in range(1, 41)]
    with django_assert_max_num_queries(12):
        admin_client.post(
            "/admin/broadcast/device/", {"action": "pause", ACTION_CHECKBOX_NAME: ids}
        )
    assert set(Device.objects.values_list("status", flat=True)) == {"paused"}


def test_enrolling_from_the_changelist_while_every_device_is_paused_keeps_the_leads(
    admin_client, workspace, device
):
    sequence = make_sequence(workspace)
    ids = make_leads(workspace, 3)
    Device.objects.filter(pk=device.pk).update(status="paused")
    data = {"action": "enroll_in_sequence", ACTION_CHECKBOX_NAME: ids}
    done = admin_client.post(
        "/admin/leads/lead/", {**data, "apply": "1", "sequence": sequence.pk}, follow=True
    )
    assert "3 lead(s) wait in a pending enrollment request" in done.content.decode()
    request = EnrollmentRequest.objects.get()
    assert (sorted(request.lead_ids), request.reason, request.actor) == (
        ids,
        "no_device",
        "user:admin",
    )
    assert not Enrollment.objects.exists()


def device_form(device, **overrides):
    data = {
        "workspace": device.workspace_id,
        "name": device.name,
        "phone": device.phone,
        "channel": device.channel,
        "status": device.status,
        "gateway_kind": device.gateway_kind,
        "gateway_url": device.gateway_url,
        "gateway_session": device.gateway_session,
        "gateway_token": "",
        "webhook_secret": "",
        "min_interval_seconds": device.min_interval_seconds,
        "max_interval_seconds": device.max_interval_seconds,
        "daily_cap": device.daily_cap,
        "warmup_days": device.warmup_days,
        "active_since": device.active_since.isoformat(),
    }
    data.update(overrides)
    return data


def test_device_secrets_are_never_shown_back(admin_client, device):
    Device.objects.filter(pk=device.pk).update(
        gateway_token="key-7Hq2-stored", webhook_secret="hook-9Zp4-stored"
    )
    url = f"/admin/broadcast/device/{device.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "key-7Hq2-stored" not in page and "hook-9Zp4-stored" not in page
    assert page.count("Set (not shown)") == 2
    for listing in ("/admin/broadcast/device/", f"/admin/broadcast/device/{device.pk}/history/"):
        assert "key-7Hq2-stored" not in admin_client.get(listing).content.decode()
    # Saved with the secret inputs left empty: both stored values are kept.
    assert admin_client.post(url, device_form(device, name="renamed")).status_code == 302
    device.refresh_from_db()
    assert (device.name, device.gateway_token, device.webhook_secret) == (
        "renamed",
        "key-7Hq2-stored",
        "hook-9Zp4-stored",
    )
    admin_client.post(url, device_form(device, gateway_token="key-new", webhook_secret="hook-new"))
    device.refresh_from_db()
    assert (device.gateway_token, device.webhook_secret) == ("key-new", "hook-new")
    both = admin_client.post(url, device_form(device, gateway_token="x", clear_gateway_token="on"))
    assert both.status_code == 200
    assert "clear_gateway_token" in both.context["adminform"].form.errors
    admin_client.post(url, device_form(device, clear_gateway_token="on"))
    device.refresh_from_db()
    assert (device.gateway_token, device.webhook_secret) == ("", "hook-new")
    assert "Not set." in admin_client.get(url).content.decode()


def test_a_new_devices_webhook_secret_is_generated_and_shown_once(admin_client, workspace, gateway):
    response = admin_client.post(
        "/admin/broadcast/device/add/",
        {
            "workspace": workspace.pk,
            "name": "new line",
            "phone": "+15550001111",
            "channel": "whatsapp",
            "status": "active",
            "gateway_kind": "waha",
            "gateway_url": gateway.url,
            "gateway_session": "s9",
            "gateway_token": "key-typed-once",
            "webhook_secret": "",
            "min_interval_seconds": "5",
            "max_interval_seconds": "15",
            "daily_cap": "100",
            "warmup_days": "0",
            "active_since": "2026-12-01",
        },
        follow=True,
    )
    device = Device.objects.get()
    assert len(device.webhook_secret) >= 32 and device.gateway_token == "key-typed-once"
    shown = response.content.decode()
    assert device.webhook_secret in shown and "not shown again" in shown  # once...
    assert "key-typed-once" not in shown
    page = admin_client.get(f"/admin/broadcast/device/{device.pk}/change/").content.decode()
    assert device.webhook_secret not in page  # ...and never again


def test_a_status_set_in_the_device_form_goes_through_the_service(admin_client, device):
    Device.objects.filter(pk=device.pk).update(
        status="paused", probe_at=timezone.now(), consecutive_failures=5
    )
    device.refresh_from_db()
    url = f"/admin/broadcast/device/{device.pk}/change/"
    assert admin_client.post(url, device_form(device, status="active")).status_code == 302
    device.refresh_from_db()
    assert (device.status, device.probe_at, device.consecutive_failures) == ("active", None, 0)
    assert device.status_reason == "set by admin"


BROADCAST_ACTIONS = {
    "/admin/broadcast/device/": {"pause", "resume"},
    "/admin/broadcast/enrollment/": {"stop"},
    "/admin/broadcast/enrollmentrequest/": {"carry_out", "retry"},
    "/admin/leads/lead/": {"enroll_in_sequence"},
}


def staff_client(client, *, codenames: list[str]):
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user("viewer-" + "-".join(codenames)[:100], is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def actions_offered(client, url) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200, url
    form = response.context["action_form"]
    return {name for name, _ in form.fields["action"].choices} if form else set()


def test_a_view_only_user_is_offered_no_broadcast_action(client, device, workspace):
    sequence = make_sequence(workspace)
    services.enrollment_create_many(lead_ids=make_leads(workspace, 1), sequence_id=sequence.pk)
    Device.objects.filter(pk=device.pk).update(status="paused")
    services.enrollment_create_many(
        lead_ids=make_leads(workspace, 1), sequence_id=sequence.pk, if_no_device="queue"
    )
    views = ["view_device", "view_enrollment", "view_enrollmentrequest", "view_lead"]
    viewer = staff_client(client, codenames=views)
    for url, names in BROADCAST_ACTIONS.items():
        assert not actions_offered(viewer, url) & names, url
    # Posted anyway, an action that is not offered does nothing.
    viewer.post("/admin/broadcast/device/", {"action": "resume", ACTION_CHECKBOX_NAME: [device.pk]})
    assert Device.objects.get(pk=device.pk).status == "paused"


def test_the_actions_follow_change_and_enroll_permissions(admin_client, client, device):
    for url, names in BROADCAST_ACTIONS.items():
        assert names <= actions_offered(admin_client, url), url
    changer = staff_client(
        client,
        codenames=[
            "view_lead",
            "change_device",
            "change_enrollment",
            "change_enrollmentrequest",
            "add_enrollment",
        ],
    )
    for url, names in BROADCAST_ACTIONS.items():
        assert names <= actions_offered(changer, url), url


def test_the_form_previews_the_sequence_as_posted_without_saving_it(admin_client, workspace):
    make_leads(workspace, 1, first_name="Maria")
    data = sequence_form(workspace, "Bye {first_name}, {nickname}")
    response = admin_client.post("/admin/broadcast/sequence/preview/", data)
    html = response.content.decode()
    assert response.status_code == 200 and "For Maria:" in html
    assert "<li>(+0 min) Hi Maria, code SUN10</li>" in html
    assert "(+1440 min) Unknown placeholder {nickname}" in html  # told, not a 500
    assert not Sequence.objects.exists()
    assert admin_client.get("/admin/broadcast/sequence/preview/").status_code == 405
    sequence = make_sequence(workspace, "Hello {first_name}")
    url = f"/admin/broadcast/sequence/{sequence.pk}/preview/"
    edited = admin_client.post(url, {**data, "steps-TOTAL_FORMS": "1"}).content.decode()
    assert "Hi Maria, code SUN10" in edited and "Bye" not in edited
    assert list(sequence.steps.values_list("template", flat=True)) == ["Hello {first_name}"]
    empty = admin_client.post(url, {"steps-TOTAL_FORMS": "x"})
    assert empty.status_code == 200 and empty.content == b"No steps yet."


def test_the_live_preview_is_scoped(client, worlds):
    mine, theirs = worlds
    client.force_login(make_member("mia", mine.workspace, "manager"))
    url = f"/admin/broadcast/sequence/{theirs.sequence.pk}/preview/"
    assert client.post(url).status_code == 404
    make_leads(theirs.workspace, 1, first_name="Secretname")
    data = sequence_form(theirs.workspace, "Hi {first_name}")
    assert (
        "Secretname" not in client.post("/admin/broadcast/sequence/preview/", data).content.decode()
    )
