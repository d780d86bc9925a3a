"""Every Leadbrain task has a soft and a hard time limit (a stuck query, request or regex
frees its worker), and the tasks that run long on purpose have room for their run."""

import pytest
from django.conf import settings

from config.celery import app

APPS = ("core.", "leads.", "routing.", "dialer.", "broadcast.", "calllogs.")


def limits(name: str) -> tuple[float, float]:
    task = app.tasks[name]
    soft = task.soft_time_limit or app.conf.task_soft_time_limit
    hard = task.time_limit or app.conf.task_time_limit
    return soft, hard


def our_tasks() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if name.startswith(APPS))


def test_the_defaults_come_from_settings():
    assert app.conf.task_soft_time_limit == settings.CELERY_TASK_SOFT_TIME_LIMIT == 60
    assert app.conf.task_time_limit == settings.CELERY_TASK_TIME_LIMIT == 90


def test_there_are_tasks_to_check():
    assert len(our_tasks()) >= 10


@pytest.mark.parametrize("name", our_tasks())
def test_every_task_has_a_soft_limit_below_its_hard_limit(name):
    soft, hard = limits(name)
    assert soft and hard, name
    assert 0 < soft < hard, name


@pytest.mark.parametrize(
    ("name", "runs_for"),
    [
        ("broadcast.tasks.dispatch_task", settings.BROADCAST_DISPATCH_SECONDS),
        ("routing.tasks.route_pending_task", 50),
    ],
)
def test_long_running_tasks_have_room_for_their_run(name, runs_for):
    soft, _ = limits(name)
    assert soft >= runs_for + 30
