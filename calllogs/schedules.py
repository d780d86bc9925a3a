SCHEDULES = [
    {
        "name": "calllogs: apply stored webhook events (sweeper)",
        "task": "calllogs.tasks.webhook_events_drain_task",
        "interval_seconds": 60,
    },
    {
        "name": "calllogs: hourly sync from the Vici databases",
        "task": "calllogs.tasks.sync_all_task",
        "crontab": {"minute": "5"},
    },
    {
        "name": "calllogs: nightly reconciliation",
        "task": "calllogs.tasks.reconcile_yesterday_task",
        "crontab": {"minute": "30", "hour": "2"},
    },
    {
        "name": "calllogs: re-check the lead scope of new call logs",
        "task": "calllogs.tasks.calllog_lead_scope_recheck_task",
        "interval_seconds": 60,
    },
]
