"""One event that cannot be applied must not stop the drain: it moves to the dead-letter
list with its reason, every other event of its batch is applied, and the admin can queue
it again once the cause is fixed."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.utils import timezone

from calllogs import services
from calllogs.models import CallLog, WebhookDeadLetter, WebhookEvent
from leads.models import Lead
from tests.routing.factories import make_leads

pytestmark = pytest.mark.django_db

EPOCH = int((timezone.now() - timedelta(hours=2)).timestamp())
POISON = f"{EPOCH}.666"


@pytest.fixture
def poison_check():
    """PostgreSQL refuses one call (a check constraint standing for any value the database
    cannot take): the drain's isolation must find it among the others."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE calllogs_calllog ADD CONSTRAINT test_poison "
            f"CHECK (uniqueid <> '{POISON}')"
        )
    yield
    drop_poison_check()


def drop_poison_check() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending trigger events left
        cursor.execute("ALTER TABLE calllogs_calllog DROP CONSTRAINT IF EXISTS test_poison")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def store(server, params):
    WebhookEvent.objects.create(server=server, params=params)


def test_a_poison_event_goes_to_the_dead_letters_and_the_rest_is_applied(
    call_server, workspace, poison_check
):
    ids = make_leads(workspace, 30)
    for n, lead_id in enumerate(ids):
        uniqueid = POISON if n == 17 else f"{EPOCH + n}.1"
        store(
            call_server,
            {
                "kind": "dispo",
                "uniqueid": uniqueid,
                "vendor_lead_code": str(lead_id),
                "dispo": "NI",
            },
        )
    assert services.webhook_events_drain(batch_size=1000) == 30
    assert CallLog.objects.count() == 29
    assert not WebhookEvent.objects.exists()
    [dead] = WebhookDeadLetter.objects.all()
    assert dead.params["uniqueid"] == POISON and "test_poison" in dead.error
    assert Lead.objects.filter(pk__in=ids, status="not_interested").count() == 29
    assert services.webhook_events_drain() == 0  # nothing comes back by itself


def test_events_stored_before_the_checks_are_dead_letters_not_a_stuck_queue(call_server, workspace):
    [lead_id] = make_leads(workspace, 1)
    store(call_server, {"uniqueid": f"{EPOCH}.{'9' * 60}", "dispo": "SALE"})  # over 50
    store(call_server, {"uniqueid": f"{EPOCH}.2", "talk_time": "99999999999", "dispo": "SALE"})
    store(call_server, {"uniqueid": f"{EPOCH}.3", "vendor_lead_code": "²", "dispo": "NA"})
    store(call_server, {"uniqueid": f"{EPOCH}.4", "vendor_lead_code": str(lead_id), "dispo": "NI"})
    store(call_server, ["not", "a", "query string"])
    store(call_server, {"uniqueid": f"{EPOCH}.5", "lead_id": 8, "dispo": None})
    assert services.webhook_events_drain() == 6
    assert set(CallLog.objects.values_list("uniqueid", flat=True)) == {f"{EPOCH}.3", f"{EPOCH}.4"}
    assert WebhookDeadLetter.objects.count() == 4
    errors = dict(WebhookDeadLetter.objects.values_list("params__uniqueid", "error"))
    assert "uniqueid" in errors[f"{EPOCH}.{'9' * 60}"]
    assert "talk_time" in errors[f"{EPOCH}.2"]
    assert Lead.objects.get(pk=lead_id).status == "not_interested"


def test_the_admin_retries_dead_letters_with_the_change_permission_only(
    client, admin_client, call_server, poison_check
):
    store(call_server, {"kind": "dispo", "uniqueid": POISON, "dispo": "NA"})
    services.webhook_events_drain()
    dead = WebhookDeadLetter.objects.get()
    page = admin_client.get("/admin/calllogs/webhookdeadletter/")
    assert page.status_code == 200 and "test_poison" in page.content.decode()

    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookdeadletter"))
    client.force_login(viewer)
    action = {"action": "retry", "_selected_action": [dead.pk]}
    client.post("/admin/calllogs/webhookdeadletter/", action)
    assert WebhookDeadLetter.objects.filter(pk=dead.pk).exists()  # not offered: no change

    drop_poison_check()  # the cause is fixed
    response = admin_client.post("/admin/calllogs/webhookdeadletter/", action, follow=True)
    assert "1 event(s) queued again." in response.content.decode()
    assert not WebhookDeadLetter.objects.exists()
    [queued] = WebhookEvent.objects.all()
    assert queued.received_at == dead.received_at and queued.params == dead.params
    assert services.webhook_events_drain() == 1
    assert CallLog.objects.get().uniqueid == POISON


@pytest.mark.parametrize("rows", [3, 20])
def test_dead_letter_changelist_queries_do_not_grow_with_rows(
    admin_client, call_server, rows, django_assert_max_num_queries
):
    now = timezone.now()
    WebhookDeadLetter.objects.bulk_create(
        WebhookDeadLetter(
            server=call_server, received_at=now, failed_at=now, params={"n": n}, error="x"
        )
        for n in range(rows)
    )
    with django_assert_max_num_queries(7):
        page = admin_client.get("/admin/calllogs/webhookdeadletter/")
    assert page.status_code == 200 and len(page.context["cl"].result_list) == rows
