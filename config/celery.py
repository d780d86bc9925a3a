"""Celery app: one queue per flow, Redis only wakes workers (the queues that matter are tables)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("leadbrain")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_routes = {
    "leads.*": {"queue": "intake"},
    "core.*": {"queue": "default"},
    "routing.*": {"queue": "routing"},
    "dialer.*": {"queue": "dialer"},
    "calllogs.*": {"queue": "calllogs"},
    "broadcast.*": {"queue": "broadcast"},
}
app.autodiscover_tasks()
