import pytest

from dialer.client import (
    ViciClient,
    ViciDncError,
    ViciLockedError,
    ViciLoginError,
    ViciNotFoundError,
    ViciTransportError,
    parse_lines,
    sanitise,
)


@pytest.fixture
def client(vici):
    return ViciClient(
        url=vici.url, user="crmapi", password="Secret123", source="leadbrain", timeout=2
    )


def test_version_needs_no_login(vici):
    bad = ViciClient(url=vici.url, user="x", password="y", source="lb", timeout=2)
    assert bad.version()["VERSION"] == "2.14-202"


def test_add_lead_parses_lead_id_as_third_field_and_notices(client, vici):
    result = client.add_lead(
        phone_number="4155550100",
        phone_code="1",
        list_id=1001,
        duplicate_check="DUPLIST",
        add_to_hopper=True,
        vendor_lead_code="42",
        first_name="José+Ann",
    )
    assert result.lead_id == 1 and result.list_id == 1001 and not result.duplicate
    assert result.notices and result.notices[0].startswith("NOTICE: add_lead ADDED TO HOPPER")
    stored = vici.state.leads[1]
    assert stored["first_name"] == "Jos Ann"  # sanitised exactly like VICIdial
    assert sanitise("first_name", "José+Ann") == stored["first_name"]
    assert stored["vendor_lead_code"] == "42"


@pytest.mark.parametrize(
    ("check", "kind"), [("DUPLIST", "LIST"), ("DUPCAMP", "CAMPAIGN LISTS"), ("DUPSYS", "SYSTEM")]
)
def test_duplicates_carry_the_existing_lead_id(client, check, kind):
    first = client.add_lead(phone_number="4155550100", phone_code="1", list_id=1001)
    again = client.add_lead(
        phone_number="4155550100",
        phone_code="1",
        list_id=1001 if check == "DUPLIST" else 1002,
        duplicate_check=check,
    )
    assert again.duplicate and again.duplicate_kind == kind
    assert again.lead_id == first.lead_id and again.list_id == 1001


def test_update_move_and_not_found(client, vici):
    added = client.add_lead(
        phone_number="4155550100", phone_code="1", list_id=1001, vendor_lead_code="77"
    )
    moved = client.update_lead(lead_id=added.lead_id, list_id_field=1002)
    assert moved.lead_ids == [added.lead_id] and moved.changed == 1
    assert vici.state.leads[added.lead_id]["list_id"] == 1002
    same = client.update_lead(lead_id=added.lead_id, list_id_field=1002)
    assert same.changed == 0
    by_code = client.update_lead(vendor_lead_code="77", status="CALLBK")
    assert by_code.lead_ids == [added.lead_id]
    with pytest.raises(ViciNotFoundError) as info:
        client.update_lead(vendor_lead_code="NOPE-404", status="X")
    assert not info.value.retryable


def test_batch_update_lead_search_and_list_info(client):
    ids = [
        client.add_lead(phone_number=f"41555501{n:02d}", phone_code="1", list_id=1001).lead_id
        for n in range(3)
    ]
    result = client.batch_update_lead(lead_ids=ids, status="DNC")
    assert result.lead_ids == ids and result.changed == 3
    assert client.lead_search(phone_numbers=["4155550101", "4155559999"]) == {
        "4155550101": [ids[1]],
        "4155559999": [],
    }
    info = client.list_info(list_id=1001)
    assert (info.list_id, info.campaign_id, info.active) == (1001, "TESTCAMP", True)
    with pytest.raises(ViciNotFoundError):
        client.list_info(list_id=4242)


def test_phone_number_log_rows_and_no_records_notice(client, vici):
    vici.state.calls.append(
        {
            "phone_number": "4155550100",
            "call_date": "2026-11-22 10:00:00",
            "list_id": 1001,
            "length_in_sec": 33,
            "lead_status": "SALE",
            "term_reason": "CALLER",
            "status": "SALE",
            "source_id": "x",
            "user": "agent1",
        }
    )
    [row] = client.phone_number_log(phone_numbers=["4155550100", "4155559999"])
    assert (row.length_in_sec, row.call_status, row.user) == (33, "SALE", "agent1")


def test_login_errors_are_typed_and_the_password_is_scrubbed(vici):
    bad = ViciClient(url=vici.url, user="crmapi", password="WrongPass9", source="lb", timeout=2)
    with pytest.raises(ViciLoginError) as info:
        bad.add_lead(phone_number="4155550100", phone_code="1", list_id=1001)
    assert not info.value.retryable
    assert "WrongPass9" not in info.value.raw and "********" in info.value.raw
    for _ in range(9):
        with pytest.raises(ViciLoginError):
            bad.list_info(list_id=1001)
    good = ViciClient(url=vici.url, user="crmapi", password="Secret123", source="lb", timeout=2)
    with pytest.raises(ViciLockedError):
        good.list_info(list_id=1001)


def test_dnc_is_final(client, monkeypatch, vici):
    def dnc(params):
        return f"ERROR: add_lead PHONE NUMBER IN DNC - {params['phone_number']}|crmapi\n"

    monkeypatch.setattr(vici, "_fn_add_lead", dnc)
    with pytest.raises(ViciDncError) as info:
        client.add_lead(phone_number="4155550100", phone_code="1", list_id=1001)
    assert not info.value.retryable


def test_transport_failures_are_retryable(client, vici):
    vici.fail_next(1)
    with pytest.raises(ViciTransportError) as info:
        client.list_info(list_id=1001)
    assert info.value.retryable
    vici.latency = 3
    with pytest.raises(ViciTransportError):
        client.list_info(list_id=1001)  # timeout is 2 s
    vici.latency = 0
    vici.down()
    with pytest.raises(ViciTransportError):
        client.list_info(list_id=1001)
    vici.up()


def test_parse_lines_kinds():
    lines = parse_lines("ERROR: Invalid Source - \nERROR: Invalid Source: ||\n1001|x|C|Y|||2099|0|")
    assert [ln.kind for ln in lines] == ["ERROR", "ERROR", "DATA"]
    assert lines[2].fields[:3] == ["1001", "x", "C"]
    [login] = parse_lines("ERROR: Login incorrect, please try again: |crmapi|pw|BAD|")
    assert login.reason.startswith("Login incorrect") and login.fields[:3] == [
        "crmapi",
        "pw",
        "BAD",
    ]
