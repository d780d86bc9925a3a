import pytest
import requests

from core.secrets import MASK, mask_query_secrets, scrub, transport_error_text


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


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "GET /webhooks/vici/call/?server=1&token=abc&uniqueid=1.2 HTTP/1.1",
            "GET /webhooks/vici/call/?server=1&token=********&uniqueid=1.2 HTTP/1.1",
        ),
        ("token=x&pass=y&user=me", "token=********&pass=********&user=me"),
        ("/metrics?TOKEN=zz", "/metrics?TOKEN=********"),
        (
            "/x?api_key=k&Password=p&X-Token=t",
            "/x?api_key=********&Password=********&X-Token=********",
        ),
        ("/x?keyword=STOP&monkey=1&passenger=2", "/x?keyword=STOP&monkey=1&passenger=2"),
        ("https://h/?a=1;secret=2", "https://h/?a=1;secret=********"),
        ("GET /health HTTP/1.1", "GET /health HTTP/1.1"),
        ("", ""),
    ],
)
def test_secret_query_values_are_masked(text, masked):
    assert mask_query_secrets(text) == masked
