"""The manager dashboard (the admin's first page): today and the last 24 hours, for the
workspaces a person may see.

core imports no app, so each app registers its panel in ``AppConfig.ready`` with a
function from its ``selectors.py`` that computes the panel's figures for a ``Window`` (a
bounded number of indexed queries, whatever the number of workspaces or rows). The
figures of a scope are cached for ``DASHBOARD_CACHE_SECONDS`` (every person of the same
workspaces shares them); links to the admin pages that act on a figure are resolved per
request, and only for pages the person may open.

A panel's figures are plain data (cached as they are). Two conventions:
- ``attention``: a list of ``{"label", "count", "model", "query"}``, the failures that need a
  person; every panel's are gathered into one "Needs a person" list (those with a count).
- any dict with ``"model"`` (``app_label.model_name``) and ``"query"`` gets a ``"url"``: the
  model's changelist with that query string, or None when the person may not view it.
"""

import hashlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from core.charts import hourly_bars

logger = logging.getLogger(__name__)

CACHE_PREFIX = "dashboard:"


@dataclass(frozen=True)
class Window:
    """What a panel computes for: the person's workspaces (None: every one), now, the last
    24 whole hours (``since``, an hour start) and the start of today (local time)."""

    workspace_ids: frozenset[int] | None
    now: datetime
    since: datetime
    today: datetime

    @classmethod
    def ending(cls, now: datetime, workspace_ids: Collection[int] | None) -> "Window":
        hour = now.replace(minute=0, second=0, microsecond=0)
        local = timezone.localtime(now)
        today = local.replace(hour=0, minute=0, second=0, microsecond=0)
        ids = None if workspace_ids is None else frozenset(workspace_ids)
        return cls(ids, now, hour - timedelta(hours=23), today)

    def hours(self) -> list[datetime]:
        """The 24 hour starts of the window, oldest first."""
        return [self.since + timedelta(hours=n) for n in range(24)]


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    order: int
    template: str
    figures: Callable[[Window], dict[str, Any]]


PANELS: dict[str, Panel] = {}
_workspace_namer: list[Callable[[frozenset[int] | None], list[tuple[int, str]]]] = []


def register_panel(
    key: str,
    *,
    title: str,
    order: int,
    template: str,
    figures: Callable[[Window], dict[str, Any]],
) -> None:
    PANELS[key] = Panel(key, title, order, template, figures)


def register_workspace_namer(
    namer: Callable[[frozenset[int] | None], list[tuple[int, str]]],
) -> None:
    """The leads app (which owns workspaces) says how to name the ones a person sees."""
    _workspace_namer[:] = [namer]


def workspaces_named(workspace_ids: Collection[int] | None) -> list[tuple[int, str]]:
    """(id, name) of these workspaces (None: every one), for the dashboard's picker."""
    if not _workspace_namer:
        return []
    return _workspace_namer[0](None if workspace_ids is None else frozenset(workspace_ids))


def _scope_key(workspace_ids: frozenset[int] | None) -> str:
    if workspace_ids is None:
        return f"{CACHE_PREFIX}all"
    ids = ",".join(str(i) for i in sorted(workspace_ids))
    return f"{CACHE_PREFIX}{hashlib.sha256(ids.encode()).hexdigest()[:32]}"


def dashboard_compute(workspace_ids: Collection[int] | None) -> dict[str, Any]:
    """Every panel's figures now (no cache)."""
    window = Window.ending(timezone.now(), workspace_ids)
    panels = sorted(PANELS.values(), key=lambda p: (p.order, p.key))
    return {
        "computed_at": window.now,
        "since": window.since,
        "today": window.today,
        "panels": {p.key: p.figures(window) for p in panels},
    }


def dashboard_figures(workspace_ids: Collection[int] | None) -> dict[str, Any]:
    """The figures of a scope, shared for ``DASHBOARD_CACHE_SECONDS``."""
    ids = None if workspace_ids is None else frozenset(workspace_ids)
    key = _scope_key(ids)
    try:
        cached = cache.get(key)
    except (ConnectionInterrupted, RedisError):
        logger.warning("dashboard cache unavailable; computing uncached", exc_info=True)
        return dashboard_compute(ids)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    figures = dashboard_compute(ids)
    try:
        cache.set(key, figures, settings.DASHBOARD_CACHE_SECONDS)
    except (ConnectionInterrupted, RedisError):
        logger.warning("dashboard cache unavailable; not stored", exc_info=True)
    return figures


def _changelist_url(request: HttpRequest, label: str, query: str) -> str | None:
    app_label, _, model_name = label.partition(".")
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        if (opts.app_label, opts.model_name) == (app_label, model_name):
            if not model_admin.has_view_or_change_permission(request):
                return None
            try:
                url = reverse(f"admin:{app_label}_{model_name}_changelist")
            except NoReverseMatch:
                return None
            return f"{url}?{query}" if query else url
    return None


def _with_links(value: Any, request: HttpRequest) -> Any:
    if isinstance(value, dict):
        linked = {k: _with_links(v, request) for k, v in value.items()}
        if "model" in value and "query" in value:
            linked["url"] = _changelist_url(request, value["model"], value["query"])
        return linked
    if isinstance(value, list):
        return [_with_links(v, request) for v in value]
    return value


def dashboard_context(
    request: HttpRequest, workspace_ids: Collection[int] | None
) -> dict[str, Any]:
    """The template's context: the panels in order, with links for this person."""
    figures = dashboard_figures(workspace_ids)
    panels = []
    attention = []
    for panel in sorted(PANELS.values(), key=lambda p: (p.order, p.key)):
        data = figures["panels"].get(panel.key)
        if data is None:
            continue
        data = _with_links(data, request)
        if "chart" in data:
            hours = [figures["since"] + timedelta(hours=n) for n in range(24)]
            chart = data["chart"]
            data["chart_svg"] = hourly_bars(hours, chart["series"], title=chart["title"])
        attention += [item for item in data.get("attention", []) if item.get("count")]
        panels.append({"key": panel.key, "title": panel.title, "template": panel.template, **data})
    return {
        "computed_at": figures["computed_at"],
        "since": figures["since"],
        "today": figures["today"],
        "panels": panels,
        "by_key": {p["key"]: p for p in panels},
        "attention": attention,
    }
