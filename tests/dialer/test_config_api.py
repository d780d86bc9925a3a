"""The configuration API for VICIdial servers and lists: a manager key sets them up for its
workspace only, the password and database URL are write-only, the admin form's rules answer
400 per field, and a new server's call URLs work at once."""

import pytest

from calllogs.models import ServerHook
from dialer import services
from dialer.models import ViciList, ViciServer
from routing.models import RoutingRule, RuleDestination

pytestmark = pytest.mark.django_db

PASSWORD = "Zq8Secret55"
DB_URL = "mysql://cron:DbPass9876@127.0.0.1:3306/asterisk"


def server_body(vici, **extra) -> dict:
    return {
        "name": "vici-api",
        "api_url": vici.url,
        "api_user": "crmapi",
        "password": PASSWORD,
        "timezone": "America/New_York",
        **extra,
    }


def assert_no_secret(response) -> None:
    body = response.content.decode()
    assert PASSWORD not in body and "DbPass9876" not in body, body


def test_a_plain_key_cannot_configure(api_client, vici):
    assert api_client.get("/api/v1/dialer/servers/").status_code == 403
    assert api_client.post("/api/v1/dialer/servers/", server_body(vici)).status_code == 403
    assert api_client.get("/api/v1/dialer/lists/").status_code == 403


def test_create_list_update_delete_a_server(
    manager, workspace, vici, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        created = manager.post(
            "/api/v1/dialer/servers/", server_body(vici, db_url=DB_URL), format="json"
        )
    assert created.status_code == 201, created.json()
    assert_no_secret(created)
    body = created.json()
    assert body["workspace"] == "acme" and body["has_password"] and body["has_db_url"]
    assert "password" not in body and "db_url" not in body
    server = ViciServer.objects.get(pk=body["id"])
    assert server.workspace == workspace and server.db_url == DB_URL
    assert services.server_password(server) == PASSWORD
    assert PASSWORD not in server.api_password_encrypted
    # its call-URL hook exists at once: no separate "Server hook" to add
    assert ServerHook.objects.filter(server=server).exists()

    listed = manager.get("/api/v1/dialer/servers/")
    assert [row["id"] for row in listed.json()["results"]] == [server.pk]
    assert_no_secret(listed)
    detail = manager.get(f"/api/v1/dialer/servers/{server.pk}/")
    assert detail.status_code == 200
    assert_no_secret(detail)

    patched = manager.patch(
        f"/api/v1/dialer/servers/{server.pk}/", {"max_concurrency": 4}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    assert_no_secret(patched)
    server.refresh_from_db()
    assert server.max_concurrency == 4
    assert services.server_password(server) == PASSWORD  # not given: kept
    assert server.db_url == DB_URL  # not given: kept

    manager.patch(
        f"/api/v1/dialer/servers/{server.pk}/",
        {"password": "NewPass42", "clear_db_url": True},
        format="json",
    )
    server.refresh_from_db()
    assert services.server_password(server) == "NewPass42" and server.db_url == ""

    assert manager.delete(f"/api/v1/dialer/servers/{server.pk}/").status_code == 204
    assert not ViciServer.objects.filter(pk=server.pk).exists()


def test_the_admin_form_rules_answer_400_per_field(manager, vici, caplog):
    caplog.set_level("DEBUG")
    bad = manager.post(
        "/api/v1/dialer/servers/", server_body(vici, password="has space!"), format="json"
    )
    assert bad.status_code == 400
    assert "letters and digits only" in bad.json()["errors"]["password"][0]
    assert "has space!" not in bad.content.decode()
    fields = manager.post(
        "/api/v1/dialer/servers/",
        server_body(vici, max_concurrency=0, timezone="Mars/Olympus"),
        format="json",
    )
    assert fields.status_code == 400
    assert set(fields.json()["errors"]) == {"max_concurrency", "timezone"}
    no_password = manager.post(
        "/api/v1/dialer/servers/", server_body(vici, password=""), format="json"
    )
    assert no_password.status_code == 400
    assert "environment variable" in no_password.json()["errors"]["password"][0]
    url = "postgres://u:DbPass9876@h/x"
    bad_url = manager.post("/api/v1/dialer/servers/", server_body(vici, db_url=url), format="json")
    assert bad_url.status_code == 400 and "db_url" in bad_url.json()["errors"]
    assert_no_secret(bad_url)
    wrong_type = manager.post(
        "/api/v1/dialer/servers/", server_body(vici, max_concurrency="many"), format="json"
    )
    assert wrong_type.status_code == 400 and "max_concurrency" in wrong_type.json()["errors"]
    assert not ViciServer.objects.exists()
    assert PASSWORD not in caplog.text and "DbPass9876" not in caplog.text  # never logged


def test_a_key_never_sees_or_changes_another_workspace_server(manager, other_manager, vici):
    created = manager.post("/api/v1/dialer/servers/", server_body(vici), format="json").json()
    path = f"/api/v1/dialer/servers/{created['id']}/"
    assert other_manager.get("/api/v1/dialer/servers/").json()["results"] == []
    assert other_manager.get(path).status_code == 404
    assert other_manager.patch(path, {"name": "x"}, format="json").status_code == 404
    assert other_manager.delete(path).status_code == 404
    # nor names another workspace as the owner
    foreign = other_manager.post(
        "/api/v1/dialer/servers/", server_body(vici, name="v9", workspace="acme"), format="json"
    )
    assert foreign.status_code == 400 and "workspace" in foreign.json()["errors"]
    assert ViciServer.objects.get().name == "vici-api"


def test_lists_on_own_or_shared_servers_only(manager, other_manager, workspace, other, vici):
    shared = ViciServer.objects.create(name="shared", api_url=vici.url, api_user="u")
    theirs = ViciServer.objects.create(
        name="theirs", api_url=vici.url, api_user="u", workspace=other
    )
    body = {"server": shared.pk, "list_id": 1001, "name": "Solar", "campaign_id": "CAMP"}
    created = manager.post("/api/v1/dialer/lists/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["workspace"] == "acme"
    vici_list = ViciList.objects.get(pk=created.json()["id"])
    assert vici_list.workspace == workspace and vici_list.duplicate_check == "DUPLIST"
    on_theirs = manager.post(
        "/api/v1/dialer/lists/", {**body, "server": theirs.pk, "list_id": 7}, format="json"
    )
    assert on_theirs.status_code == 400 and "server" in on_theirs.json()["errors"]
    # the model's constraints, as the admin form reports them
    twice = manager.post("/api/v1/dialer/lists/", body, format="json")
    assert twice.status_code == 400
    dnc = manager.post(
        "/api/v1/dialer/lists/",
        {**body, "list_id": 1002, "campaign_id": "", "campaign_dnc_check": True},
        format="json",
    )
    assert dnc.status_code == 400
    assert "campaign DNC check" in str(dnc.json()["errors"])

    path = f"/api/v1/dialer/lists/{vici_list.pk}/"
    assert other_manager.get(path).status_code == 404
    assert other_manager.patch(path, {"name": "x"}, format="json").status_code == 404
    assert other_manager.delete(path).status_code == 404
    patched = manager.patch(path, {"name": "Solar West", "add_to_hopper": True}, format="json")
    assert patched.status_code == 200, patched.json()
    vici_list.refresh_from_db()
    assert vici_list.name == "Solar West" and vici_list.add_to_hopper
    assert vici_list.campaign_id == "CAMP"  # not given: kept

    # a list a routing destination sends leads to cannot go (409), then can
    rule = RoutingRule.objects.create(name="r")
    RuleDestination.objects.create(rule=rule, workspace=workspace, vici_list=vici_list)
    in_use = manager.delete(path)
    assert in_use.status_code == 409 and in_use.json()["code"] == "in_use"
    rule.delete()
    assert manager.delete(path).status_code == 204
    # a server with lists cannot go either
    ViciList.objects.create(server=shared, workspace=workspace, list_id=5, name="x")
    shared.workspace = workspace
    shared.save()
    assert manager.delete(f"/api/v1/dialer/servers/{shared.pk}/").status_code == 409


def test_list_endpoints_take_a_fixed_number_of_queries(
    manager, workspace, vici, django_assert_max_num_queries
):
    for n in range(5):
        server = ViciServer.objects.create(
            name=f"s{n}", api_url=vici.url, api_user="u", workspace=workspace
        )
        ViciList.objects.create(server=server, workspace=workspace, list_id=n, name=f"l{n}")
    manager.get("/api/v1/dialer/servers/")  # warm the key cache
    with django_assert_max_num_queries(4):
        assert len(manager.get("/api/v1/dialer/servers/").json()["results"]) == 5
    with django_assert_max_num_queries(4):
        assert len(manager.get("/api/v1/dialer/lists/").json()["results"]) == 5


def test_a_person_needs_the_model_permission(client, roles, workspace, vici):
    from tests.conftest import make_member

    mia = make_member("mia", workspace, "manager")
    client.force_login(mia)
    # managers run lists in the admin, so in the API too; servers stay with admins
    assert client.get("/api/v1/dialer/lists/").status_code == 200
    assert client.get("/api/v1/dialer/servers/").status_code == 403


def test_adding_a_server_in_the_admin_creates_its_hook_at_once(
    admin_client, vici, django_capture_on_commit_callbacks
):
    data = {
        "name": "v2",
        "api_url": vici.url,
        "api_user": "crmapi",
        "password": PASSWORD,
        "source": "leadbrain",
        "timeout_seconds": "5",
        "max_concurrency": "4",
        "max_calls_per_hour": "1000",
        "is_active": "on",
        "timezone": "UTC",
    }
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/admin/dialer/viciserver/add/", data)
    server = ViciServer.objects.get(name="v2")
    hook = ServerHook.objects.get(server=server)
    page = admin_client.get(f"/admin/calllogs/serverhook/{hook.pk}/change/").content.decode()
    assert f"server={server.pk}" in page and hook.token in page  # the call URLs


def test_the_hourly_sync_gives_a_hook_to_any_server_without_one(vici):
    from calllogs import services as calllogs_services

    lonely = ViciServer.objects.create(name="lonely", api_url=vici.url, api_user="u")
    assert calllogs_services.server_hooks_ensure() == 1
    assert ServerHook.objects.filter(server=lonely).exists()
    assert calllogs_services.server_hooks_ensure() == 0


def test_the_call_urls_of_a_new_server(manager, other_manager, api_client, vici):
    created = manager.post("/api/v1/dialer/servers/", server_body(vici), format="json").json()
    path = f"/api/v1/dialer/servers/{created['id']}/call-urls/"
    rows = manager.get(path).json()
    hook = ServerHook.objects.get(server_id=created["id"])
    assert [row["kind"] for row in rows] == ["start", "dispo", "noagent"]
    assert all(f"server={created['id']}" in r["url"] and hook.token in r["url"] for r in rows)
    assert all(r["url"].startswith("VARhttp://testserver/webhooks/vici/") for r in rows)
    assert other_manager.get(path).status_code == 404
    assert api_client.get(path).status_code == 403
