"""The VICIdial simulator's dialer: leads added through the API get called and their calls
come back through the campaign's call URLs, filled the way VICIdial fills them."""

import json
import re
import threading
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from simulators.vicidial import ViciApi, ViciSimulator
from simulators.vicidial.dialer import AGENT, NO_AGENT, Dialer
from tests.simulators.receiver import Receiver

T0 = 1_800_000_000.0
HOOK = "VARhttp://crm.test/webhooks/vici/call/?server=1&token=t&kind={kind}&" + "&".join(
    f"{v}=--A--{v}--B--"
    for v in ("lead_id", "vendor_lead_code", "list_id", "phone_number", "dispo", "talk_time")
    + ("call_id", "uniqueid", "user")
)


def api_with_campaign(**urls) -> ViciApi:
    api = ViciApi()
    api.add_list(1001, "DEMO")
    api.set_campaign(
        "DEMO",
        start_call_url=HOOK.format(kind="start"),
        dispo_call_url=HOOK.format(kind="dispo"),
        na_call_url=HOOK.format(kind="noagent"),
        **urls,
    )
    return api


def add_lead(api: ViciApi, phone: str = "4155550100", list_id: int = 1001, code: str = "77"):
    query = {"function": "add_lead", "user": "crmapi", "pass": "Secret123", "source": "test"}
    query.update(phone_number=phone, list_id=str(list_id), vendor_lead_code=code)
    answer = api.handle(urlencode(query))
    assert answer.startswith("SUCCESS: add_lead LEAD HAS BEEN ADDED"), answer
    return int(answer.split(" - ")[1].split("|")[2])


def recording(api: ViciApi, **options):
    sent: list[tuple[str, str]] = []
    defaults = {"seed": 7, "hopper_delay": (2.0, 2.0), "talk_delay": (3.0, 3.0)}
    dialer = Dialer(
        api, send=lambda kind, url: sent.append((kind, url)) or 200, **{**defaults, **options}
    )
    return dialer, sent


def fields(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_an_added_lead_is_dialed_after_the_hopper_delay_and_reported_by_the_dispo_url():
    api = api_with_campaign()
    lead_id = add_lead(api)
    dialer, sent = recording(api, answered_share=1.0)
    assert dialer.tick(T0) == [] and sent == []  # in the hopper
    [call] = dialer.tick(T0 + 2)
    assert call.answered and call.status in {s for s, _ in AGENT}
    assert re.fullmatch(rf"{int(T0 + 2)}\.\d+", call.uniqueid)
    assert re.fullmatch(rf"V\d{{9}}{lead_id:010d}", call.call_id)
    [(kind, start)] = sent
    assert kind == "start" and not start.startswith("VAR")
    assert fields(start)["dispo"] == "NEW"  # the status before the call
    assert fields(start)["talk_time"] == "0"
    dialer.tick(T0 + 5)  # the agent dispositions
    kind, dispo = sent[1]
    assert kind == "dispo"
    got = fields(dispo)
    assert (got["dispo"], got["lead_id"], got["vendor_lead_code"]) == (
        call.status,
        str(lead_id),
        "77",
    )
    assert (got["uniqueid"], got["call_id"], got["user"]) == (
        call.uniqueid,
        call.call_id,
        call.user,
    )
    assert got["talk_time"] == str(call.talk_seconds) and call.talk_seconds > 0
    assert api.state.leads[lead_id]["status"] == call.status


def test_a_call_without_an_agent_fires_the_no_agent_url_with_the_dialer_status():
    api = api_with_campaign()
    add_lead(api)
    dialer, sent = recording(api, answered_share=0.0)
    dialer.tick(T0)
    [call] = dialer.tick(T0 + 2)
    dialer.tick(T0 + 3)
    [(kind, url)] = sent
    assert kind == "noagent" and call.status in {s for s, _, _ in NO_AGENT}
    assert call.user == "VDAD" and fields(url)["dispo"] == call.status
    assert "--A--talk_time--B--" in url  # No-Agent URLs leave talk_time unfilled


def test_no_answers_are_redialed_until_the_attempts_run_out():
    api = api_with_campaign()
    lead_id = add_lead(api)
    dialer, _ = recording(api, answered_share=0.0, max_attempts=3, redial_after=(10, 10))
    api.state.leads[lead_id]["status"] = "NEW"
    calls = [c for t in range(0, 200, 1) for c in dialer.tick(T0 + t)]
    redialable = [c for c in calls if c.status in {"NA", "B", "AA", "DROP"}]
    assert 1 <= len(calls) <= 3
    assert api.state.leads[lead_id]["called_count"] == len(calls)
    if len(calls) < 3:  # stopped early: a final status (ADC)
        assert calls[-1].status not in {"NA", "B", "AA", "DROP"}
    else:
        assert len(redialable) >= 2


def test_only_leads_of_an_active_campaign_in_a_dial_status_are_called():
    api = api_with_campaign()
    api.add_list(2002, "PAUSED")
    api.set_campaign("PAUSED", active=False)
    add_lead(api, "4155550101", list_id=2002)  # campaign not dialing
    add_lead(api, "4155550102", list_id=3003)  # a list no campaign has
    dnc = add_lead(api, "4155550103")
    api.state.leads[dnc]["status"] = "DNC"  # set by update_lead before the dial
    dialer, sent = recording(api)
    assert [c for t in range(0, 30) for c in dialer.tick(T0 + t)] == []
    assert sent == []


def test_every_call_is_in_phone_number_log():
    api = api_with_campaign()
    add_lead(api, "4155550104")
    dialer, _ = recording(api)
    dialer.tick(T0)
    [call] = dialer.tick(T0 + 2)
    query = {"function": "phone_number_log", "user": "crmapi", "pass": "Secret123"}
    answer = api.handle(urlencode({**query, "source": "test", "phone_number": "4155550104"}))
    row = answer.strip().split("|")
    assert row[0] == "4155550104" and row[6] == call.status and row[8] == call.user


def test_the_running_simulator_sends_the_urls_over_http_and_takes_campaigns_by_its_control_url():
    receiver = Receiver().start()
    vici = ViciSimulator().start()
    try:
        hook = HOOK.replace("http://crm.test", receiver.url)
        control = f"http://127.0.0.1:{vici.port}/simulator/campaign"
        bad = requests.post(control, data=json.dumps({"campaign_id": "TOO-LONG-ID"}), timeout=5)
        assert bad.status_code == 400
        answer = requests.post(
            control,
            data=json.dumps(
                {
                    "campaign_id": "DEMO",
                    "lists": [1001],
                    "dispo_call_url": hook.format(kind="dispo"),
                    "na_call_url": hook.format(kind="noagent"),
                }
            ),
            timeout=5,
        )
        assert answer.status_code == 200 and vici.state.lists[1001] == "DEMO"
        vici.start_dialer(hopper_delay=(0, 0), talk_delay=(0, 0), seed=1)
        query = {"function": "add_lead", "user": "crmapi", "pass": "Secret123", "source": "test"}
        query.update(phone_number="4155550105", list_id="1001", vendor_lead_code="9")
        assert requests.get(vici.url, params=query, timeout=5).text.startswith("SUCCESS")
        [request] = receiver.wait_for(1)
        assert request.method == "GET" and request.target.startswith("/webhooks/vici/call/?")
        got = fields(request.target)
        assert got["vendor_lead_code"] == "9" and got["kind"] in {"dispo", "noagent"}
    finally:
        vici.stop()
        receiver.stop()


def test_a_dialer_thread_stops_with_the_simulator():
    vici = ViciSimulator().start()
    vici.start_dialer()
    stop: threading.Event = vici._dialer_stop
    vici.stop()
    assert stop.is_set()


def test_lead_ids_starting_high_are_found_at_once():
    """A run's lead ids start past the last run's (VICIdial never reuses them)."""
    api = api_with_campaign()
    api.state.next_id = 400_000_001
    lead_id = add_lead(api)
    dialer, _ = recording(api)
    dialer.tick(T0)
    [call] = dialer.tick(T0 + 2)
    assert call.lead_id == lead_id == 400_000_001


def test_calls_start_at_the_dialers_pace_and_the_rest_wait_in_the_hopper():
    api = api_with_campaign()
    for n in range(10):
        add_lead(api, f"41555502{n:02d}")
    dialer, _ = recording(api, calls_per_second=2.0, hopper_delay=(0, 0))
    assert len(dialer.tick(T0)) == 2  # a second's worth to start with
    assert len(dialer.tick(T0 + 1)) == 2
    assert len(dialer.tick(T0 + 1)) == 0
    assert len(dialer.tick(T0 + 3)) == 4  # at most two seconds saved up
    assert len(dialer.tick(T0 + 100)) == 4  # the last two, and two redials


def test_behind_a_backlog_the_newest_lead_is_called_first():
    api = api_with_campaign()
    for n in range(30):
        add_lead(api, f"41555503{n:02d}")
    dialer, _ = recording(api, calls_per_second=1.0, hopper_delay=(0, 0))
    dialer.tick(T0)
    fresh = add_lead(api, "4155550399")
    [call] = dialer.tick(T0 + 1)
    assert call.lead_id == fresh


def test_an_outage_refuses_the_api_but_the_dialer_goes_on():
    vici = ViciSimulator().start()
    try:
        vici.start_dialer()
        vici.down()
        assert not vici._dialer_stop.is_set()
        vici.up()
        answer = requests.get(vici.url, params={"function": "version"}, timeout=5)
        assert answer.text.startswith("VERSION:")
    finally:
        vici.stop()


def test_a_restarted_simulator_keeps_its_leads_lists_and_campaigns(tmp_path):
    from simulators.vicidial import snapshot

    api = api_with_campaign()
    api.state.next_id = 500
    lead_id = add_lead(api, "4155550190")
    api.add_dnc("4155550191")
    snapshot.save(api, tmp_path / "vici.json")
    again = ViciApi()
    assert snapshot.load(again, tmp_path / "vici.json")
    assert again.state.leads[lead_id]["phone_number"] == "4155550190"
    assert (
        again.state.campaigns["DEMO"].dispo_call_url == api.state.campaigns["DEMO"].dispo_call_url
    )
    assert again.state.lists == {1001: "DEMO"} and "4155550191" in again.state.dnc
    update = {"function": "update_lead", "user": "crmapi", "pass": "Secret123", "source": "test"}
    answer = again.handle(urlencode({**update, "lead_id": str(lead_id), "status": "DNC"}))
    assert answer.startswith(f"SUCCESS: update_lead LEAD HAS BEEN UPDATED - crmapi|{lead_id}|1")
    assert add_lead(again, "4155550192") == lead_id + 1
    assert not snapshot.load(ViciApi(), tmp_path / "missing.json")
