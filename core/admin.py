"""Admin plumbing shared by every app: a paginator that never runs COUNT(*) on big tables,
JSON form fields with a nesting limit."""

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections, models
from django.http import HttpRequest
from django.utils.functional import cached_property

from core.json_safe import SafeJSONDecoder
from core.models import ColdPartition

admin.site.site_header = "Leadbrain"
admin.site.site_title = "Leadbrain admin"
admin.site.index_title = "Lead flow"

# ``formfield_overrides`` of a ModelAdmin with editable JSON: JSON nested deeper than
# JSON_MAX_DEPTH is a form error, not a RecursionError 500.
SAFE_JSON_FORMFIELDS = {models.JSONField: {"decoder": SafeJSONDecoder}}


class EstimatedCountPaginator(Paginator):
    """Uses the planner's row estimate when the queryset is unfiltered and large."""

    exact_below = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is None or query.where:
            return super().count
        table = queryset.model._meta.db_table
        using = queryset.db
        with connections[using].cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(GREATEST(c.reltuples, 0)), 0)::bigint FROM pg_class c "
                "WHERE c.oid = to_regclass(%s) OR c.oid IN "
                "(SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass(%s))",
                [table, table],
            )
            estimate = int(cursor.fetchone()[0])
        if estimate < self.exact_below:
            return super().count
        return estimate


class BigTableAdmin(admin.ModelAdmin):
    """For changelists over millions of rows: no full count, estimated pagination."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50


@admin.register(ColdPartition)
class ColdPartitionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """What left the database for cold storage, and which file holds it (read-only)."""

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
