"""Upsert every periodic task by name; edits made in admin survive (never delete+recreate)."""

import importlib
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


def all_schedules() -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.schedules":
                raise
            continue
        result += getattr(module, "SCHEDULES", [])
    return result


@transaction.atomic
def schedules_upsert() -> tuple[int, int]:
    created = updated = 0
    for spec in all_schedules():
        task = PeriodicTask.objects.filter(name=spec["name"]).first()
        if task is not None:
            # Keep the operator's timing and enabled flag; only follow a renamed task path.
            if task.task != spec["task"]:
                task.task = spec["task"]
                task.save(update_fields=["task"])
                updated += 1
            continue
        kwargs: dict[str, Any] = {}
        if "crontab" in spec:
            kwargs["crontab"], _ = CrontabSchedule.objects.get_or_create(
                timezone="UTC", **spec["crontab"]
            )
        else:
            kwargs["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=spec["interval_seconds"], period=IntervalSchedule.SECONDS
            )
        PeriodicTask.objects.create(name=spec["name"], task=spec["task"], **kwargs)
        created += 1
    return created, updated


class Command(BaseCommand):
    help = "Create or update every Leadbrain periodic task by name."

    def handle(self, *args: Any, **options: Any) -> None:
        created, updated = schedules_upsert()
        self.stdout.write(f"schedules: {created} created, {updated} updated")
