"""Local stand-ins of the systems Leadbrain talks to, for ``make run`` and the tests only.

* ``simulators.vicidial``: VICIdial's Non-Agent API (the exact wire format of VICIDIAL.md),
  its auto-dialer and agents (calls with realistic dispositions, reported through the
  campaign's call URLs the way VICIdial fills and sends them).
* ``simulators.gateway``: a WAHA-style WhatsApp gateway (sends, delivery receipts, replies
  to the session's webhook, signed like WAHA).
* ``simulators.traffic``: demo leads posted through the real API a few per second.
* ``simulators.demo``: the demo configuration (rules, lists, devices, people) and the link
  of the running simulators to it.

Nothing in the apps or in the settings imports this package (an import-linter contract and
``tests/core/test_simulators_isolated.py`` hold that). ``python -m simulators --help`` runs
each piece as a process.
"""
