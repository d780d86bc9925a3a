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
    {
        "name": "routing: re-check the lead scope of new routing log rows",
        "task": "routing.tasks.routinglog_lead_scope_recheck_task",
        "interval_seconds": 60,
    },
]
