"""The alert rules: apps register a check per rule in ``AppConfig.ready``.

A check returns the findings that hold now (one per subject: a server, a device, a metric);
an alert fires when a finding first appears and resolves when its rule's check stops
returning it. A check that raises leaves its rule's alerts as they are (and fires
``core.check_failed``), so a broken probe never resolves a real alert.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.alerts.models import Severity


@dataclass(frozen=True)
class Finding:
    subject: str  # what it is about, unique within the rule ("" when the rule has one)
    summary: str  # one line, the message's subject; never a secret
    severity: str = Severity.WARNING
    detail: str = ""


Check = Callable[[], Iterable[Finding]]

CHECKS: dict[str, Check] = {}


def register_check(rule: str, check: Check) -> None:
    """Register (or replace) the check of ``rule`` (``"<app>.<condition>"``)."""
    if ":" in rule:
        raise ValueError("a rule name has no ':' (it separates the rule from the subject)")
    CHECKS[rule] = check


def alert_key(rule: str, subject: str) -> str:
    return f"{rule}:{subject}"[:200]
