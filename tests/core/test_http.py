"""core.http: an outgoing HTTP pool cannot be built without a timeout and a retry policy."""

import socket

import certifi
import pytest
import urllib3

from core.http import HttpPolicy, build_pool


def test_a_pool_needs_a_positive_timeout():
    with pytest.raises(ValueError):
        build_pool(HttpPolicy(timeout=0), "http://127.0.0.1/x")


def test_a_pool_keeps_the_policy_and_checks_certificates_for_https():
    policy = HttpPolicy(timeout=3, retries=1, pool_size=4)
    plain = build_pool(policy, "http://vici.example:8080/vicidial/non_agent_api.php")
    assert (plain.host, plain.port, plain.pool.maxsize) == ("vici.example", 8080, 4)
    assert plain.timeout.connect_timeout == plain.timeout.read_timeout == 3
    assert (plain.retries.connect, plain.retries.read, plain.retries.redirect) == (1, 0, 0)
    secure = build_pool(policy, "https://vici.example/vicidial/non_agent_api.php")
    assert isinstance(secure, urllib3.HTTPSConnectionPool)
    assert secure.ca_certs == certifi.where()  # the bundle requests verifies against


def test_a_refused_connection_is_retried_then_raised():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pool = build_pool(HttpPolicy(timeout=1, retries=1, backoff=0), f"http://127.0.0.1:{port}/")
    with pytest.raises(urllib3.exceptions.MaxRetryError) as info:
        pool.urlopen("POST", "/", body=b"x")
    assert isinstance(info.value.reason, urllib3.exceptions.NewConnectionError)
