SCHEDULES = [
    {
        "name": "leads: archive old partitions",
        "task": "leads.tasks.archive_old_partitions_task",
        "crontab": {"minute": "0", "hour": "2"},
    },
]
