import csv
import io
from pathlib import Path

import pytest

from core.csv_safe import csv_writer, safe_cell
from tests.leads.factories import LeadFactory

ROOT = Path(__file__).resolve().parents[2]
APPS = ["core", "leads", "routing", "dialer", "broadcast", "calllogs"]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (
            '=HYPERLINK("http://evil.example","click")',
            '\'=HYPERLINK("http://evil.example","click")',
        ),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("+12134567890", "+12134567890"),  # a phone: a plain number runs nothing
        ("-5", "-5"),
        ("-1.5", "-1.5"),
        ("Ana", "Ana"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),
        (None, None),
    ],
)
def test_cells_that_spreadsheets_run_are_prefixed(value, written):
    assert safe_cell(value) == written


def test_the_writer_neutralises_every_cell():
    out = io.StringIO()
    csv_writer(out).writerows([["=1+1", "ok", "@x"], ["+1 (213)", 3, "-A1"]])
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [["'=1+1", "ok", "'@x"], ["'+1 (213)", "3", "'-A1"]]


@pytest.mark.django_db
def test_the_lead_export_neutralises_partner_text(admin_client, workspace):
    lead = LeadFactory(
        workspace=workspace,
        first_name='=HYPERLINK("http://evil.example","x")',
        company="@SUM(A1)",
        phone="+12134567890",
    )
    response = admin_client.post(
        "/admin/leads/lead/", {"action": "export_csv", "_selected_action": [lead.pk]}
    )
    body = b"".join(response.streaming_content).decode()
    header, row = list(csv.reader(io.StringIO(body)))
    cells = dict(zip(header, row, strict=True))
    assert cells["first_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert cells["company"] == "'@SUM(A1)"
    assert cells["phone"] == "+12134567890"


def test_no_app_writes_csv_without_the_safe_writer():
    offenders = [
        str(path.relative_to(ROOT))
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if path.name != "csv_safe.py"
        and ("csv.writer(" in (text := path.read_text()) or "csv.DictWriter(" in text)
    ]
    assert offenders == []
