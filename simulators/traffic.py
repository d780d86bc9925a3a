"""Demo leads that keep arriving: a few per second, posted through Leadbrain's real API
(``POST /api/v1/leads/`` with an ``Api-Key``), like a web form and an ad platform would.

Most leads are new people across six states and five sources; now and then one is posted
again (a duplicate) or has a phone no one can dial (rejected with a 400). No Django here:
``python -m simulators traffic`` hands it its keys. ``run(stop, seconds)`` paces itself
with ``stop.wait`` and returns the answers it got.
"""

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

FIRST = "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth Carlos Maria "
FIRST += "Wei Aisha Ivan Fatima Kenji Priya Sarah Thomas"
LAST = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Lopez Wilson "
LAST += "Anderson Taylor Moore Lee Chen Patel Nguyen Kim"
INDUSTRIES = ["Solar", "Insurance", "Home improvement", "Debt relief", "Medicare", "Education"]
# (state, time zone, area codes)
PLACES = [
    ("CA", "America/Los_Angeles", [213, 310, 415, 619]),
    ("AZ", "America/Phoenix", [480, 520, 602, 928]),
    ("TX", "America/Chicago", [214, 512, 713, 817]),
    ("FL", "America/New_York", [305, 407, 813, 904]),
    ("NY", "America/New_York", [212, 315, 518, 716]),
    ("IL", "America/Chicago", [312, 217, 309, 618]),
]
SOURCES = ["facebook", "google", "partner-feed", "webform", "tv"]
DUPLICATE_SHARE, INVALID_SHARE = 0.05, 0.02


@dataclass
class Traffic:
    base_url: str
    keys: list[str]  # one per workspace the leads arrive in (the first gets the most)
    rate: float = 2.0  # leads per second
    seed: int | None = None
    answers: Counter = field(default_factory=Counter)  # created, duplicate, rejected, ...
    lead_ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.http = requests.Session()
        self.recent: list[tuple[str, dict]] = []
        self.count = 0

    def person(self) -> dict:
        rng = self.rng
        self.count += 1
        state, tz, areas = rng.choice(PLACES)
        first, last = rng.choice(FIRST.split()), rng.choice(LAST.split())
        serial = f"{int(time.time())}-{self.count}"
        return {
            "first_name": first,
            "last_name": last,
            "phone": f"+1{rng.choice(areas)}{rng.randint(201, 989)}{rng.randint(0, 9999):04d}",
            "email": f"{first}.{last}.{serial}@example.com".lower(),
            "company": f"{last} {rng.choice(['LLC', 'Inc', 'Group', 'Co'])}",
            "industry": rng.choice(INDUSTRIES),
            "state": state,
            "postal_code": f"{rng.randint(10000, 99999)}",
            "timezone": tz,
            "source": rng.choice(SOURCES),
            "external_id": f"live-{serial}",
            "custom": {"score": rng.randint(1, 100)},
            "consent": {"text": "I agree to be contacted.", "ip": f"203.0.113.{self.count % 250}"},
        }

    def next_post(self) -> tuple[str, dict]:
        """The key and body of the next lead: mostly new, sometimes again, rarely bad."""
        chance = self.rng.random()
        if chance < DUPLICATE_SHARE and self.recent:
            return self.rng.choice(self.recent)
        key = self.keys[0] if len(self.keys) == 1 or self.rng.random() < 0.7 else self.keys[1]
        row = self.person()
        if chance > 1 - INVALID_SHARE:
            row["phone"] = "12345"
        else:
            self.recent = [*self.recent[-49:], (key, row)]
        return key, row

    def post_one(self) -> str:
        key, row = self.next_post()
        try:
            answer = self.http.post(
                f"{self.base_url.rstrip('/')}/api/v1/leads/",
                json=row,
                headers={"Authorization": f"Api-Key {key}"},
                timeout=10,
            )
        except requests.RequestException:
            outcome = "unreachable"
        else:
            json_answer = answer.headers.get("Content-Type", "").startswith("application/json")
            body = answer.json() if json_answer else {}
            said = body.get("status") if isinstance(body, dict) else None
            outcome = said if isinstance(said, str) else f"http {answer.status_code}"
            if answer.status_code == 400 and not isinstance(said, str):
                outcome = "rejected"
            if outcome == "created" and isinstance(body.get("id"), int):
                self.lead_ids.append(body["id"])
                del self.lead_ids[:-1000]
        self.answers[outcome] += 1
        return outcome

    def run(self, stop: threading.Event, seconds: float | None = None) -> Counter:
        """Post at ``rate`` until ``stop`` is set or ``seconds`` pass."""
        started = time.monotonic()
        interval = 1.0 / self.rate
        due = started
        while not stop.is_set() and (seconds is None or time.monotonic() - started < seconds):
            self.post_one()
            # After a slow answer, go on at the pace: no burst to catch up.
            due = max(due + interval * self.rng.uniform(0.5, 1.5), time.monotonic() - interval)
            stop.wait(max(0.0, due - time.monotonic()))
        return self.answers
