SCHEDULES = [
    {
        "name": "routing: sweep pending leads",
        "task": "routing.tasks.route_pending_task",
        "interval_seconds": 60,
    },
    {
        "name": "routing: drain the retry queue",
        "task": "routing.tasks.retry_drain_task",
        "interval_seconds": 60,
    },
]
