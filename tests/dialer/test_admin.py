import pytest
from django.utils import timezone

from dialer import services
from dialer.models import OutboxItem, ViciServer
from routing import services as routing_services
from tests.routing.factories import make_leads, make_rule

pytestmark = pytest.mark.django_db


def test_server_form_is_write_only_for_the_password(admin_client, vici):
    data = {
        "name": "v2",
        "api_url": vici.url,
        "api_user": "crmapi",
        "password": "Secret123",
        "api_password_env": "",
        "source": "leadbrain",
        "timeout_seconds": "5",
        "max_concurrency": "4",
        "max_calls_per_hour": "1000",
        "is_active": "on",
        "db_url": "",
        "timezone": "America/New_York",
    }
    response = admin_client.post("/admin/dialer/viciserver/add/", data, follow=True)
    assert response.status_code == 200
    server = ViciServer.objects.get(name="v2")
    assert services.server_password(server) == "Secret123"
    page = admin_client.get(f"/admin/dialer/viciserver/{server.pk}/change/").content.decode()
    assert "Secret123" not in page and server.api_password_encrypted not in page
    bad = admin_client.post(
        "/admin/dialer/viciserver/add/", {**data, "name": "v3", "password": "has space!"}
    )
    assert b"letters and digits only" in bad.content
    none_at_once = admin_client.post(
        "/admin/dialer/viciserver/add/", {**data, "name": "v6", "max_concurrency": "0"}
    )
    assert b"Ensure this value is greater than or equal to 1." in none_at_once.content
    zone = admin_client.post(
        "/admin/dialer/viciserver/add/", {**data, "name": "v4", "timezone": "Mars/Olympus"}
    )
    assert b"Unknown time zone" in zone.content
    assert not ViciServer.objects.filter(name="v4").exists()


def test_server_list_shows_health_and_resume_action(admin_client, server, workspace, vici_list):
    services.outbox_enqueue_add(lead_ids=make_leads(workspace, 2), vici_list_id=vici_list.pk)
    services.server_pause(server_id=server.pk, reason="ERROR: Login incorrect")
    page = admin_client.get("/admin/dialer/viciserver/").content.decode()
    assert "PAUSED: ERROR: Login incorrect" in page
    admin_client.post(
        "/admin/dialer/viciserver/", {"action": "resume", "_selected_action": [server.pk]}
    )
    server.refresh_from_db()
    assert server.paused_until is None


def test_outbox_retry_actions(admin_client, server, workspace, vici_list):
    services.outbox_enqueue_add(lead_ids=make_leads(workspace, 3), vici_list_id=vici_list.pk)
    OutboxItem.objects.update(state="failed", last_response="ERROR: add_lead PHONE NUMBER IN DNC")
    first = OutboxItem.objects.order_by("id").first()
    listing = admin_client.get("/admin/dialer/outboxitem/?state__exact=failed")
    assert listing.status_code == 200 and len(listing.context["cl"].result_list) == 3
    admin_client.post(
        "/admin/dialer/outboxitem/", {"action": "retry", "_selected_action": [first.pk]}
    )
    assert OutboxItem.objects.filter(state="pending").count() == 1
    admin_client.post(
        "/admin/dialer/outboxitem/", {"action": "retry_all_failed", "_selected_action": [first.pk]}
    )
    assert OutboxItem.objects.filter(state="pending").count() == 3
    assert OutboxItem.objects.filter(next_attempt_at__lte=timezone.now()).count() == 3


def test_routing_to_a_list_enqueues_the_push(workspace, server, vici_list, vici):
    make_rule("to vici", destinations=[{"workspace": workspace, "vici_list": vici_list}])
    ids = make_leads(workspace, 4)
    routing_services.route_pending(worker_id="t")
    assert OutboxItem.objects.filter(lead_id__in=ids, operation="add").count() == 4
    assert services.outbox_drain(server_id=server.pk).sent == 4


DB_URL = "mysql://cron:Db5ecretPw@vici-db.example:3306/asterisk"


def server_form(vici, **overrides) -> dict:
    return {
        "name": "v5",
        "api_url": vici.url,
        "api_user": "crmapi",
        "password": "Secret123",
        "api_password_env": "",
        "source": "leadbrain",
        "timeout_seconds": "5",
        "max_concurrency": "4",
        "max_calls_per_hour": "1000",
        "is_active": "on",
        "db_url": DB_URL,
        "timezone": "UTC",
        **overrides,
    }


def test_the_database_url_is_write_only(admin_client, vici):
    admin_client.post("/admin/dialer/viciserver/add/", server_form(vici))
    server = ViciServer.objects.get(name="v5")
    assert server.db_url == DB_URL
    change = f"/admin/dialer/viciserver/{server.pk}/change/"
    page = admin_client.get(change).content.decode()
    assert "Db5ecretPw" not in page and "vici-db.example" not in page  # never rendered back
    assert "A database URL is set (never shown)" in page
    assert "A password is set (stored encrypted, never shown)" in page
    listing = admin_client.get("/admin/dialer/viciserver/").content.decode()
    assert "Db5ecretPw" not in listing

    # an empty field on edit keeps both secrets
    response = admin_client.post(change, server_form(vici, password="", db_url="", name="v5b"))
    assert response.status_code == 302
    server.refresh_from_db()
    assert (server.name, server.db_url) == ("v5b", DB_URL)
    assert services.server_password(server) == "Secret123"

    # a new one replaces it; "remove" clears it
    other = "mysql://cron:Other9@db2.example/asterisk"
    admin_client.post(change, server_form(vici, password="", db_url=other, name="v5b"))
    server.refresh_from_db()
    assert server.db_url == other
    admin_client.post(
        change, server_form(vici, password="", db_url="", name="v5b", clear_db_url="on")
    )
    server.refresh_from_db()
    assert server.db_url == ""
    assert "A database URL is set" not in admin_client.get(change).content.decode()


@pytest.mark.parametrize(
    "url", ["postgres://u:Pw9secret@h/db", "mysql://u:Pw9secret@/asterisk", "mysql://u:Pw9secret@h"]
)
def test_a_bad_database_url_is_a_form_error_that_does_not_echo_it(admin_client, vici, url):
    response = admin_client.post("/admin/dialer/viciserver/add/", server_form(vici, db_url=url))
    assert response.status_code == 200
    page = response.content.decode()
    assert "mysql://user:password@host" in page
    assert "Pw9secret" not in page
    assert not ViciServer.objects.filter(name="v5").exists()
