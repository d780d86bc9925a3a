"""The demo traffic: mostly new people, some posted again, a few undialable, at its pace."""

import threading
import time
from collections import Counter

from simulators.traffic import Traffic
from tests.simulators.receiver import Receiver


def test_the_mix_is_mostly_new_people_with_some_duplicates_and_a_few_bad_phones():
    traffic = Traffic(base_url="http://unused.test", keys=["a", "b"], seed=11)
    posts = [traffic.next_post() for _ in range(2000)]
    rows = Counter(id(row) for _, row in posts)
    again = sum(n - 1 for n in rows.values())
    bad = sum(1 for _, row in posts if row["phone"] == "12345")
    assert 40 <= again <= 160 and 15 <= bad <= 70
    keys = Counter(key for key, _ in posts)
    assert keys["a"] > keys["b"] > 0
    row = posts[0][1]
    assert row["phone"].startswith("+1") and len(row["phone"]) == 12
    assert {"first_name", "email", "state", "timezone", "source", "consent"} <= set(row)


def test_it_posts_through_the_api_with_the_key_at_its_pace():
    receiver = Receiver().start()
    try:
        traffic = Traffic(base_url=receiver.url, keys=["secret-key"], rate=20, seed=2)
        started = time.monotonic()
        answers = traffic.run(threading.Event(), seconds=1.0)
        took = time.monotonic() - started
        sent = receiver.requests
        assert 8 <= len(sent) <= 32 and took < 3
        assert sum(answers.values()) == len(sent)
        first = sent[0]
        assert (first.method, first.target) == ("POST", "/api/v1/leads/")
        assert first.headers["Authorization"] == "Api-Key secret-key"
    finally:
        receiver.stop()


def test_a_stop_ends_the_run_at_once():
    traffic = Traffic(base_url="http://127.0.0.1:9", keys=["k"], rate=0.1)
    stop = threading.Event()
    stop.set()
    assert traffic.run(stop) == Counter()
