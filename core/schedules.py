"""Periodic tasks of the core app, upserted by ``manage.py setup_schedules``.

Each app may have a ``schedules.py`` with a ``SCHEDULES`` list of dicts:
``{"name", "task", "crontab": {...}}`` or ``{"name", "task", "interval_seconds": N}``.
"""

SCHEDULES = [
    {
        "name": "core: evaluate alert rules",
        "task": "core.tasks.alerts_evaluate_task",
        "interval_seconds": 60,
    },
    {
        # A new month's partition gets its statistics within seconds of filling, not at
        # autovacuum's next round (core.partitions.partitions_analyze_young).
        "name": "core: analyze young partitions",
        "task": "core.tasks.partitions_analyze_task",
        "interval_seconds": 5,
    },
    {
        "name": "core: partition maintenance",
        "task": "core.tasks.partitions_maintain_task",
        "crontab": {"minute": "15", "hour": "1"},
    },
    {
        # After the nightly archive (02:00) and cold storage (02:30): both change the archive.
        "name": "core: nightly backup",
        "task": "core.tasks.backup_nightly_task",
        "crontab": {"minute": "30", "hour": "3"},
    },
]
