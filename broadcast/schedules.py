SCHEDULES = [
    {
        "name": "broadcast: dispatch due messages",
        "task": "broadcast.tasks.dispatch_task",
        "interval_seconds": 60,
    },
    {
        "name": "broadcast: carry out pending enrollment requests",
        "task": "broadcast.tasks.enrollment_requests_process_task",
        "interval_seconds": 60,
    },
    {
        "name": "broadcast: probe devices paused for gateway failures",
        "task": "broadcast.tasks.devices_probe_task",
        "interval_seconds": 15,
    },
    {
        "name": "broadcast: re-check the lead scope of new messages",
        "task": "broadcast.tasks.message_lead_scope_recheck_task",
        "interval_seconds": 60,
    },
]
