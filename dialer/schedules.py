SCHEDULES = [
    {
        "name": "dialer: drain the VICIdial outbox",
        "task": "dialer.tasks.outbox_drain_all_task",
        "interval_seconds": 300,
    },
    {
        "name": "dialer: re-check the lead scope of new outbox items",
        "task": "dialer.tasks.outbox_lead_scope_recheck_task",
        "interval_seconds": 60,
    },
]
