"""Admin plumbing shared by every app: big-table admins (paginators in
``core.paginators``), JSON form fields with a nesting limit, and the workspace scoping every
ModelAdmin builds on."""

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from axes import admin as axes_admin
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db import models
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django_celery_beat import admin as celery_beat_admin
from django_celery_beat.models import PeriodicTask

from core.json_safe import SafeJSONDecoder
from core.models import ColdPartition
from core.paginators import CappedCountPaginator
from core.scope import workspace_ids_for

if TYPE_CHECKING:
    # Django's classes are generic only in the stubs (no django_stubs_ext at runtime).
    from django.contrib.admin.options import BaseModelAdmin
    from django.db.models.fields.related import ForeignKey, ManyToManyField, RelatedField
    from django.forms.models import ModelChoiceField, ModelMultipleChoiceField
    from django_stubs_ext import StrOrPromise

    _ModelAdmin = admin.ModelAdmin[Any]
    _ChoicesBase = BaseModelAdmin[Any]
    # The base of a mixin for ModelAdmins: the ModelAdmin for the checker, nothing at runtime.
    ModelAdminMixin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin
    _ChoicesBase = object
    ModelAdminMixin = object

Action = Callable[[Any, HttpRequest, "QuerySet[Any]"], HttpResponse | None]

admin.site.site_header = "Leadbrain"
admin.site.site_title = "Leadbrain admin"
admin.site.index_title = "Lead flow"

# ``formfield_overrides`` of a ModelAdmin with editable JSON: JSON nested deeper than
# JSON_MAX_DEPTH is a form error, not a RecursionError 500.
SAFE_JSON_FORMFIELDS: "Mapping[type[models.Field[Any, Any]], Mapping[str, Any]]" = {
    models.JSONField: {"decoder": SafeJSONDecoder}
}


if TYPE_CHECKING:  # Django's classes are generic only in the stubs
    _BigTableAdminBase = admin.ModelAdmin[Any]
else:
    _BigTableAdminBase = admin.ModelAdmin


class IndexedSortChangeList(ChangeList):
    """Sorts only by the columns the admin allows (``sortable_by``), even when the URL's
    ``o=`` asks for another: a sort over millions of rows must walk an index."""

    def get_ordering_field(self, field_name: "Callable[..., Any] | str") -> Any:
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)


class BigTableAdmin(_BigTableAdminBase):
    """For changelists over millions of rows: capped counts and page links, and sorting
    only by the indexed columns of ``ordering`` (or an explicit ``sortable_by``)."""

    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50

    def get_sortable_by(self, request: HttpRequest) -> Any:
        if self.sortable_by is not None:
            return self.sortable_by
        return [name.lstrip("-") for name in self.get_ordering(request) or ()]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return IndexedSortChangeList


class ScopedChoicesMixin(_ChoicesBase):
    """Foreign-key and many-to-many choices limited to what the person may see: when the
    related model's admin is workspace-scoped, its queryset for this request is the choice
    list (a manager never picks, nor learns the name of, another workspace's row). Models of
    no workspace (a VICIdial server) stay choosable: they hold no workspace's data."""

    def _scoped_choices(
        self, db_field: "RelatedField[Any, Any]", request: HttpRequest
    ) -> "QuerySet[Any] | None":
        related = _scoped_admin(self.admin_site, db_field.related_model)
        if related is None:
            return None
        if workspace_ids_for(request.user) is None:
            return None
        return related.scoped_queryset(request)

    def formfield_for_foreignkey(
        self, db_field: "ForeignKey[Any, Any]", request: HttpRequest, **kwargs: Any
    ) -> "ModelChoiceField[Any] | None":
        queryset = self._scoped_choices(db_field, request)
        if queryset is not None:
            kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(
        self, db_field: "ManyToManyField[Any, Any]", request: HttpRequest, **kwargs: Any
    ) -> "ModelMultipleChoiceField[Any] | None":
        queryset = self._scoped_choices(db_field, request)
        if queryset is not None:
            kwargs["queryset"] = queryset
        return super().formfield_for_manytomany(db_field, request, **kwargs)


def _scoped_admin(site: admin.AdminSite, model: object) -> "WorkspaceScopedAdmin | None":
    """The admin of ``model`` when it is workspace-scoped (not of the models of no
    workspace)."""
    if not (isinstance(model, type) and issubclass(model, Model)):
        return None
    related = site._registry.get(model)
    if isinstance(related, WorkspaceScopedAdmin) and related.workspace_path is not None:
        return related
    return None


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A foreign-key filter whose choices are the related rows the person may see."""

    def field_choices(
        self, field: "RelatedField[Any, Any]", request: HttpRequest, model_admin: _ModelAdmin
    ) -> "list[tuple[str, StrOrPromise]]":
        related = _scoped_admin(model_admin.admin_site, field.related_model)
        if related is None or workspace_ids_for(request.user) is None:
            return super().field_choices(field, request, model_admin)
        ordering = self.field_admin_ordering(field, request, model_admin) or ()
        rows = related.scoped_queryset(request).order_by(*ordering)
        return [(row.pk, str(row)) for row in rows]


class WorkspaceScopedAdmin(ScopedChoicesMixin, _ModelAdmin):
    """A ModelAdmin whose every row, choice, action and object page is limited to the
    person's workspaces (``core.scope``; superusers and the admin role see all).

    ``workspace_path`` is the lookup from the model to its workspace (``"workspace"``,
    ``"pk"`` for the workspace itself, ``"sequence__workspace"``...). ``None``: the model
    belongs to no workspace (VICIdial servers, dispositions) and only people who see every
    workspace see it at all. Models reached through a lead override ``scope_queryset``
    (``leads.admin_links.LeadScopedAdminMixin``). Actions and custom views get rows from
    ``get_queryset``, so they are scoped too; object pages of rows out of scope answer as
    for rows that do not exist.
    """

    workspace_path: str | None = None

    def scope_queryset(
        self, request: HttpRequest, queryset: "QuerySet[Any]", workspace_ids: frozenset[int]
    ) -> "QuerySet[Any]":
        """``queryset`` limited to ``workspace_ids`` (a frozenset, never None)."""
        if self.workspace_path is None:
            return queryset.none()
        return queryset.filter(**{f"{self.workspace_path}__in": workspace_ids})

    def scoped_queryset(self, request: HttpRequest) -> "QuerySet[Any]":
        """The model's rows this person may see, without the changelist's annotations."""
        queryset: QuerySet[Any] = self.model._default_manager.get_queryset()
        workspace_ids = workspace_ids_for(request.user)
        if workspace_ids is None:
            return queryset
        return self.scope_queryset(request, queryset, workspace_ids)

    def get_queryset(self, request: HttpRequest) -> "QuerySet[Any]":
        queryset = super().get_queryset(request)
        workspace_ids = workspace_ids_for(request.user)
        if workspace_ids is None:
            return queryset
        return self.scope_queryset(request, queryset, workspace_ids)

    def get_list_filter(self, request: HttpRequest) -> Any:
        """Plain foreign-key filters list only the related rows in scope."""
        result: list[Any] = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and "__" not in entry:
                field = self.model._meta.get_field(entry)
                if field.is_relation and field.related_model is not None:
                    entry = (entry, ScopedRelatedFieldListFilter)
            result.append(entry)
        return result

    def _in_scope_model(self, request: HttpRequest) -> bool:
        return self.workspace_path is not None or workspace_ids_for(request.user) is None

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._in_scope_model(request) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._in_scope_model(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._in_scope_model(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._in_scope_model(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._in_scope_model(request) and super().has_delete_permission(request, obj)


class ScopedInlineMixin(ScopedChoicesMixin):
    """For inlines: the same scoped choices as ``WorkspaceScopedAdmin`` (the parent's admin
    scopes the rows)."""


class ScopedBigTableAdmin(WorkspaceScopedAdmin, BigTableAdmin):
    """A scoped changelist over millions of rows."""


class LiveFormMixin(ModelAdminMixin):
    """An admin whose change form shows, as it is being filled in, a live view of the form
    as posted (nothing saved): the rule's summary, the sequence's preview. ``live_name``
    names the two URLs (``<app>_<model>_<live_name>`` for an object, ``..._new`` for the
    add form) and ``live_answer`` turns the bound form and its inline formsets into the
    answer."""

    live_name = "live"

    def live_answer(self, form: Any, formsets: list[Any]) -> HttpResponse:
        raise NotImplementedError

    def live_urls(self) -> list[Any]:
        from django.urls import path

        meta = self.model._meta
        name = f"{meta.app_label}_{meta.model_name}_{self.live_name}"
        view = self.admin_site.admin_view(self.live_view)
        return [
            path(f"{self.live_name}/", view, name=f"{name}_new"),
            path(f"<int:object_id>/{self.live_name}/", view, name=name),
        ]

    def live_view(self, request: HttpRequest, object_id: int | None = None) -> HttpResponse:
        from django.core.exceptions import PermissionDenied
        from django.http import Http404, HttpResponseNotAllowed

        obj = None
        if object_id is not None:
            obj = self.get_queryset(request).filter(pk=object_id).first()
            if obj is None or not self.has_change_permission(request, obj):
                raise Http404
        elif not self.has_add_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        form.is_valid()
        formsets, _ = self._create_formsets(  # type: ignore[attr-defined]  # not in django-stubs
            request, form.instance, change=obj is not None
        )
        return self.live_answer(form, formsets)


def _guarded(action: Action, permission: str = "change") -> Action:
    """A third-party action that changes data, allowed only with ``permission``."""

    def guarded(
        modeladmin: Any, request: HttpRequest, queryset: "QuerySet[Any]"
    ) -> HttpResponse | None:
        return action(modeladmin, request, queryset)

    guarded.__name__ = action.__name__
    guarded.short_description = getattr(  # type: ignore[attr-defined]  # admin action attributes
        action, "short_description", action.__name__
    )
    guarded.allowed_permissions = (permission,)  # type: ignore[attr-defined]  # as above
    return guarded


class PeriodicTaskAdmin(celery_beat_admin.PeriodicTaskAdmin):
    """django-celery-beat's admin, whose actions (enable, disable, toggle, run now) declare
    no permission: here they need the change permission, like every Leadbrain action."""

    enable_tasks = _guarded(celery_beat_admin.PeriodicTaskAdmin.enable_tasks)
    disable_tasks = _guarded(celery_beat_admin.PeriodicTaskAdmin.disable_tasks)
    toggle_tasks = _guarded(celery_beat_admin.PeriodicTaskAdmin.toggle_tasks)
    run_tasks = _guarded(celery_beat_admin.PeriodicTaskAdmin.run_tasks)


if admin.site.is_registered(PeriodicTask):
    admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """django-axes' failed-login list: its clean-up action deletes rows, so it needs the
    delete permission."""

    cleanup_expired_attempts = _guarded(
        axes_admin.AccessAttemptAdmin.cleanup_expired_attempts, "delete"
    )


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, AccessAttemptAdmin)


@admin.register(ColdPartition)
class ColdPartitionAdmin(WorkspaceScopedAdmin):
    """What left the database for cold storage, and which file holds it (read-only)."""

    workspace_path = None  # files of every workspace: admins only

    list_display = ["partition", "parent_table", "month", "rows", "id_min", "id_max", "file_name"]
    list_filter = ["parent_table"]
    search_fields = ["partition"]
    ordering = ["parent_table", "-month"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


import core.alerts.admin  # noqa: E402, F401 - registers the alert admins
