SCHEDULES = [
    {
        "name": "leads: archive old partitions",
        "task": "leads.tasks.archive_old_partitions_task",
        "crontab": {"minute": "0", "hour": "2"},
    },
    {
        "name": "leads: cold storage of old archived months",
        "task": "leads.tasks.cold_storage_task",
        "crontab": {"minute": "30", "hour": "2"},
    },
    {
        "name": "leads: re-check the lead scope of new events",
        "task": "leads.tasks.leadevent_lead_scope_recheck_task",
        "interval_seconds": 60,
    },
]
