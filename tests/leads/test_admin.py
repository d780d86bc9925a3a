import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from leads.models import ApiKey, Lead, LeadEvent, Suppression
from tests.leads.factories import LeadFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/leads/lead/import-csv/"


def upload(admin_client, workspace, content: bytes, name="leads.csv"):
    return admin_client.post(
        IMPORT_URL,
        {"workspace": workspace.pk, "file": SimpleUploadedFile(name, content)},
        follow=True,
    )


def test_csv_import_goes_through_intake_and_offers_a_report(admin_client, workspace):
    content = (
        b"phone,email,first_name,custom_plan\n"
        b"213-456-7890,a@example.com,Ana,gold\n"
        b"12,,Bad,\n"
        b"\n"
        b"(213) 456-7890,,Dup,\n"
    )
    response = upload(admin_client, workspace, content)
    assert response.status_code == 200
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "1 created" in text and "1 duplicate" in text and "1 rejected" in text
    lead = Lead.objects.get()
    assert lead.custom == {"plan": "gold"} and lead.source == "csv"
    token = text.split("/import-csv/report/")[1].split("/")[0]
    report = admin_client.get(f"{IMPORT_URL}report/{token}/").content.decode()
    lines = report.strip().splitlines()
    assert lines[0] == "row,status,id,duplicate_of,errors"
    assert lines[1].startswith(f"2,created,{lead.pk}")
    assert lines[2].startswith("3,rejected") and "phone" in lines[2]
    assert lines[3] == f"5,duplicate,,{lead.pk},"


def test_an_import_report_is_only_for_the_person_who_ran_it(
    admin_client, client, workspace, django_user_model
):
    response = upload(admin_client, workspace, b"phone\n2134567890\n")
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    token = text.split("/import-csv/report/")[1].split("/")[0]
    other = django_user_model.objects.create_superuser("other", password="pw")
    client.force_login(other)
    assert client.get(f"{IMPORT_URL}report/{token}/").status_code == 404
    assert admin_client.get(f"{IMPORT_URL}report/{token}/").status_code == 200


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,city\nA,B\n", "Unknown column"),
        (b"first_name\nAna\n", "The file needs a"),
        ("phone,first_name\n2134567890,Jos\xe9\n".encode("latin-1"), "not UTF-8"),
        (b"", "empty"),
    ],
)
def test_bad_csv_files_get_form_errors_not_500(admin_client, workspace, content, message):
    response = upload(admin_client, workspace, content)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Lead.objects.count() == 0


def test_create_and_revoke_api_key_actions(admin_client, workspace):
    response = admin_client.post(
        "/admin/leads/workspace/",
        {"action": "create_api_key", "_selected_action": [workspace.pk]},
        follow=True,
    )
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    raw = text.rsplit(": ", 1)[1]
    key = ApiKey.objects.get(workspace=workspace)
    assert key.hashed_key == ApiKey.hash(raw) and raw not in key.hashed_key
    admin_client.post(
        "/admin/leads/apikey/", {"action": "revoke", "_selected_action": [key.pk]}, follow=True
    )
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_api_key_add_form_shows_the_key_once(admin_client, workspace):
    response = admin_client.post(
        "/admin/leads/apikey/add/", {"workspace": workspace.pk, "name": "crm"}, follow=True
    )
    [text] = [str(m) for m in get_messages(response.wsgi_request) if "Copy the new key" in str(m)]
    key = ApiKey.objects.get(name="crm")
    assert key.hashed_key == ApiKey.hash(text.rsplit(": ", 1)[1])


def test_suppression_form_normalizes_and_rejects_bad_values(admin_client):
    url = "/admin/leads/suppression/add/"
    bad = admin_client.post(url, {"kind": "phone", "value": "12"})
    assert bad.status_code == 200 and b"phone number" in bad.content
    admin_client.post(url, {"kind": "phone", "value": "(213) 456-7890"}, follow=True)
    assert Suppression.objects.get().value == "+12134567890"


def test_lead_changelist_is_cheap_and_search_is_exact(
    admin_client, workspace, django_assert_max_num_queries
):
    leads = LeadFactory.create_batch(30, workspace=workspace)
    with django_assert_max_num_queries(12):
        assert admin_client.get("/admin/leads/lead/").status_code == 200
    response = admin_client.get("/admin/leads/lead/", {"q": leads[3].phone[2:]})
    assert list(response.context["cl"].result_list) == [leads[3]]


def test_lead_change_goes_through_the_service_and_records_event(admin_client, workspace):
    lead = LeadFactory(workspace=workspace, company="Old")
    url = reverse("admin:leads_lead_change", args=[lead.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k in form.fields}
    data.update({"company": "New", "custom": "{}"})
    admin_client.post(url, data, follow=True)
    lead.refresh_from_db()
    assert lead.company == "New"
    assert LeadEvent.objects.filter(lead_id=lead.pk, kind="updated").exists()


def test_export_csv_streams_selected_leads(admin_client, workspace):
    leads = LeadFactory.create_batch(3, workspace=workspace)
    response = admin_client.post(
        "/admin/leads/lead/",
        {"action": "export_csv", "_selected_action": [lead.pk for lead in leads[:2]]},
    )
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("id,workspace_id")
    assert len(body.strip().splitlines()) == 3
