import requests

from core.secrets import MASK, scrub, transport_error_text


def test_every_form_of_a_secret_is_masked():
    password = "Wr0ng!Pa$$ word"
    text = (
        f"raw {password} | encoded {requests.utils.quote(password, safe='')} | "
        "plus Wr0ng%21Pa%24%24+word | VICIdial's echo |lbapi|Wr0ngPaword|BAD|"
    )
    scrubbed = scrub(text, password)
    assert "Wr0ng" not in scrubbed and "word |" not in scrubbed
    assert scrubbed.count(MASK) == 4


def test_short_stripped_forms_do_not_mask_ordinary_text():
    assert scrub("SUCCESS: add_lead", "!a!") == "SUCCESS: add_lead"
    assert scrub("", "x") == "" and scrub("no secret", "") == "no secret"


def test_a_transport_error_keeps_type_and_host_only():
    url = "http://127.0.0.1:9/vicidial/non_agent_api.php?user=u&pass=Secret123"
    try:
        requests.get(url, timeout=0.5)
    except requests.RequestException as exc:
        assert "Secret123" in str(exc)  # what requests would have us store
        text = transport_error_text(exc, url)
    assert text == "ConnectionError talking to 127.0.0.1"
