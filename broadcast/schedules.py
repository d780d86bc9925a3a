SCHEDULES = [
    {
        "name": "broadcast: dispatch due messages",
        "task": "broadcast.tasks.dispatch_task",
        "interval_seconds": 60,
    },
]
