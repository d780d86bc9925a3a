SCHEDULES = [
    {
        "name": "dialer: drain the VICIdial outbox",
        "task": "dialer.tasks.outbox_drain_all_task",
        "interval_seconds": 300,
    },
]
