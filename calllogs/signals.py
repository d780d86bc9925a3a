"""Signals of the calllogs app (sent on commit; receivers only enqueue work).

``webhook_events_stored``: sent with ``transaction.on_commit`` after a call-URL request was
stored in the ``WebhookEvent`` table queue. No arguments. The app's receiver
(``calllogs.tasks.webhook_events_drain_wake``, connected in ``CalllogsConfig.ready``) wakes
the drain at most once a second; the per-minute sweeper applies whatever a wake missed.
"""

from django.dispatch import Signal

webhook_events_stored = Signal()
