"""Alerts that reach a person: rules evaluated every minute by beat, delivered by e-mail and
Slack-compatible webhooks, one message when an alert fires and one when it resolves.

- ``registry``: apps register their checks (``register_check``) in ``AppConfig.ready``;
  core cannot import the apps, so each check reads through its own app's selectors.
- ``engine``: ``alerts_evaluate`` runs every check, opens, keeps and resolves ``Alert`` rows
  and queues one ``AlertDelivery`` per channel for each change.
- ``channels``: sends queued deliveries (Django's mail backend; ``requests`` for webhooks),
  rate-limited per channel, with errors that never carry the webhook URL.
- ``checks``: core's own rules (``/health`` grades, jobs that did not run or failed).
"""
