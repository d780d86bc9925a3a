"""VICIdial's auto-dialer and its agents, with time compressed, for the demo.

Every lead added to a list of an active campaign is dialed a few seconds later (VICIdial's
hopper), then again after a no-answer, busy or machine until ``max_attempts``. Calls start
at ``calls_per_second`` (the agents are few); when more are waiting, the newest lead goes
first, so a fresh lead is called at once even behind a backlog of thousands. A call ends
either without an agent (NA, B, AA, DROP, ADC: the dialer's statuses, user ``VDAD``) and
fires the campaign's No-Agent URL, or reaches an agent: the Start URL fires at once (its
``dispo`` is the lead's status *before* the call), the agent talks for a few seconds and
dispositions (SALE, NI, CALLBK, DNC, ...) and the Dispo URL fires. Each URL is filled and
put on the wire exactly as VICIdial's sender of that kind does (``callurl``), once, never
retried. Every call also becomes a ``vicidial_log`` row that ``phone_number_log`` answers.

``tick(now)`` does what is due at ``now`` (tests drive it with their own clock);
``run(stop)`` ticks twice a second until ``stop`` is set.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from simulators.vicidial import callurl
from simulators.vicidial.api import ViciApi

# (status, weight, term_reason) of calls that never reached an agent (No-Agent URL).
NO_AGENT = [("NA", 30, "NONE"), ("B", 7, "NONE"), ("AA", 10, "NONE"), ("DROP", 3, "ABANDON")]
NO_AGENT += [("ADC", 2, "NONE")]
# (status, weight) an agent picks (Dispo URL).
AGENT = [("SALE", 9), ("NI", 14), ("CALLBK", 8), ("A", 4), ("N", 4), ("DNC", 3), ("DEC", 3)]
AGENT += [("NP", 2), ("XFER", 2)]
ANSWERED_SHARE = 0.48  # of calls that reach an agent
# The campaign's dial_statuses: a lead in one of these is dialed again.
DIAL_STATUSES = {"NEW", "NA", "B", "AA", "A", "N", "CALLBK", "DROP"}
AGENTS = [f"agent{n}" for n in range(101, 109)]


@dataclass
class Call:
    uniqueid: str
    call_id: str
    lead_id: int
    list_id: int
    campaign: str
    phone: str
    status: str
    user: str
    talk_seconds: int
    term_reason: str
    answered: bool


def _pick(rng: random.Random, table: list) -> tuple:
    return rng.choices(table, weights=[row[1] for row in table])[0]


class Dialer:
    def __init__(
        self,
        api: ViciApi,
        *,
        lock: threading.Lock | None = None,
        send: Callable[[str, str], int] = callurl.deliver,
        seed: int | None = None,
        hopper_delay: tuple[float, float] = (2.0, 8.0),
        talk_delay: tuple[float, float] = (2.0, 6.0),
        redial_after: tuple[float, float] = (20.0, 60.0),
        max_attempts: int = 3,
        calls_per_second: float = 3.0,
        answered_share: float = ANSWERED_SHARE,
    ) -> None:
        self.api = api
        self.lock = lock or threading.Lock()
        self.send = send
        self.rng = random.Random(seed)
        self.hopper_delay, self.talk_delay = hopper_delay, talk_delay
        self.redial_after, self.max_attempts = redial_after, max_attempts
        # The agents and lines are few: calls start at this pace, the rest wait in the hopper.
        self.calls_per_second = calls_per_second
        self._budget, self._last = calls_per_second, 0.0
        self.answered_share = answered_share
        self._seen = 0  # leads below this lead_id are known to the dialer
        self._dials: list[tuple[float, int]] = []  # (when, lead_id): not yet dialable
        self._ready: list[int] = []  # -lead_id of the dialable: the newest lead goes first
        self._urls: list[tuple[float, int, str, str]] = []  # (when, seq, kind, filled URL)
        self._seq = 0
        self.calls: list[Call] = []
        self.sent: list[tuple[str, int]] = []  # (kind, HTTP status; 0: no answer)

    # --- the clock ---------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> list[Call]:
        """Dial what is due, send the call URLs that are due; the calls placed."""
        now = time.time() if now is None else now
        with self.lock:
            self._learn(now)
            if self._last:
                self._budget += (now - self._last) * self.calls_per_second
            self._budget = min(self._budget, 2 * self.calls_per_second)
            self._last = now
            placed = []
            while self._dials and self._dials[0][0] <= now:
                heapq.heappush(self._ready, -heapq.heappop(self._dials)[1])
            while self._ready and self._budget >= 1:
                lead_id = -heapq.heappop(self._ready)
                call = self._dial(lead_id, now)
                if call is not None:
                    placed.append(call)
                    self._budget -= 1
            due = []
            while self._urls and self._urls[0][0] <= now:
                due.append(heapq.heappop(self._urls))
        for _, _, kind, url in due:
            self.sent.append((kind, self.send(kind, url)))
        self.calls.extend(placed)
        return placed

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        while not stop.wait(interval):
            self.tick()

    def trim(self, keep: int = 1000) -> None:
        """Forget old calls and sends (a long demo run keeps its memory flat)."""
        del self.calls[:-keep], self.sent[:-keep]

    # --- dialing -----------------------------------------------------------------------------

    def _learn(self, now: float) -> None:
        """Leads added since the last tick go into the hopper a few seconds from now."""
        state = self.api.state
        first = self._seen or min(state.leads, default=state.next_id)
        for lead_id in range(first, state.next_id):
            if lead_id in state.leads:
                heapq.heappush(self._dials, (now + self.rng.uniform(*self.hopper_delay), lead_id))
        self._seen = max(self._seen, state.next_id)

    def _dialable(self, lead: dict | None) -> str:
        """The lead's campaign when it may be dialed now, else ""."""
        if lead is None or lead["status"] not in DIAL_STATUSES:
            return ""
        if lead.get("called_count", 0) >= self.max_attempts:
            return ""
        campaign_id = self.api.state.lists.get(lead["list_id"])
        campaign = self.api.state.campaigns.get(campaign_id or "")
        return (campaign_id or "") if campaign is not None and campaign.active else ""

    def _dial(self, lead_id: int, now: float) -> Call | None:
        lead = self.api.state.leads.get(lead_id)
        campaign_id = self._dialable(lead)
        if not campaign_id or lead is None:
            return None
        self._seq += 1
        stamp = datetime.fromtimestamp(now, tz=UTC)
        answered = self.rng.random() < self.answered_share
        if answered:
            status, _ = _pick(self.rng, AGENT)
            user, term = self.rng.choice(AGENTS), self.rng.choice(["CALLER", "AGENT"])
            talk = self.rng.randint(25, 900)
        else:
            status, _, term = _pick(self.rng, NO_AGENT)
            user, talk = "VDAD", 0
        call = Call(
            uniqueid=f"{int(now)}.{self._seq}",
            call_id=f"V{stamp.strftime('%m%d%H%M%S')[1:]}{lead_id:010d}",
            lead_id=lead_id,
            list_id=lead["list_id"],
            campaign=campaign_id,
            phone=lead["phone_number"],
            status=status,
            user=user,
            talk_seconds=talk,
            term_reason=term,
            answered=answered,
        )
        self._schedule_urls(call, lead, now)
        lead.update(status=status, called_count=lead.get("called_count", 0) + 1, user=user)
        self._log(call, lead, stamp)
        if status in DIAL_STATUSES and lead["called_count"] < self.max_attempts:
            heapq.heappush(self._dials, (now + self.rng.uniform(*self.redial_after), lead_id))
        return call

    def _schedule_urls(self, call: Call, lead: dict, now: float) -> None:
        campaign = self.api.state.campaigns[call.campaign]
        values = {
            "lead_id": str(call.lead_id),
            "vendor_lead_code": lead.get("vendor_lead_code", ""),
            "vendor_id": lead.get("vendor_lead_code", ""),
            "list_id": str(call.list_id),
            "phone_number": call.phone,
            "phone": call.phone,
            "call_id": call.call_id,
            "uniqueid": call.uniqueid,
            "user": call.user,
            "campaign": call.campaign,
            "group": call.campaign,
            "epoch": str(int(now)),
            "term_reason": call.term_reason,
            "first_name": lead.get("first_name", ""),
            "last_name": lead.get("last_name", ""),
        }
        if call.answered:
            before = {**values, "dispo": lead["status"], "talk_time": "0"}
            self._queue(now, "start", campaign.start_call_url, before)
            after = {**values, "dispo": call.status, "talk_time": str(call.talk_seconds)}
            self._queue(
                now + self.rng.uniform(*self.talk_delay), "dispo", campaign.dispo_call_url, after
            )
        else:
            values.update(dispo=call.status, status=call.status)
            self._queue(now + 0.5, "noagent", campaign.na_call_url, values)

    def _queue(self, when: float, kind: str, template: str, values: dict[str, str]) -> None:
        if not template:
            return
        self._seq += 1
        heapq.heappush(self._urls, (when, self._seq, kind, callurl.fill(template, kind, values)))

    def _log(self, call: Call, lead: dict, stamp: datetime) -> None:
        """The call's ``vicidial_log`` row, as ``phone_number_log`` prints it."""
        self.api.state.calls.append(
            {
                "phone_number": call.phone,
                "call_date": stamp.strftime("%Y-%m-%d %H:%M:%S"),
                "list_id": call.list_id,
                "length_in_sec": call.talk_seconds,
                "lead_status": call.status,
                "term_reason": call.term_reason,
                "status": call.status,
                "source_id": lead.get("source_id", ""),
                "user": call.user,
            }
        )
