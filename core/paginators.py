"""Paginators for admin lists of big tables: a count that stops at a cap, and pages of a
list scoped by an OR of indexed branches read one index walk per branch."""

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Page, Paginator
from django.db import OperationalError, connections, transaction
from django.db.models import Exists, Q, QuerySet
from django.db.models.sql.where import OR, WhereNode
from django.utils.functional import cached_property

if TYPE_CHECKING:  # Django's classes are generic only in the stubs
    _CappedPaginatorBase = Paginator[Any]
else:
    _CappedPaginatorBase = Paginator


class CappedCount(int):
    """A row count that stopped at the paginator's cap: arithmetic sees ``cap + 1``, pages
    show "10,000+" (templates print ``str()``)."""

    label: str

    def __new__(cls, value: int, label: str) -> "CappedCount":
        count = super().__new__(cls, value)
        count.label = label
        return count

    def __str__(self) -> str:
        return self.label

    __html__ = __str__


class CappedCountPaginator(_CappedPaginatorBase):
    """Never counts more than ``cap`` + 1 rows: ``COUNT(*)`` over a ``LIMIT cap + 1``
    subquery (bounded work, filtered or not), shown as "10,000+" when it hits the cap, so
    the page links stop at the cap too (no ``OFFSET 5000000``). A count that takes longer
    than ``count_timeout_ms`` (a rare filter value walking millions of rows) gives way to
    the planner's estimate. An unfiltered list adds the table's estimated size."""

    cap = 10_000
    count_timeout_ms = 60
    # From this many rows skipped, a page reads its ids first and then its rows by id (a
    # "deferred join"): the skipped rows are walked in the order's index alone (an
    # index-only scan where the index holds the id) instead of each being read from the
    # table and joined to its related rows. The superuser's messages, page 201: the 10,050
    # rows read from disk took 310-404 ms of SQL.
    defer_from = 1_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        try:
            rows = self._capped_rows(queryset)
            exact = True
        except OperationalError:  # statement timeout: estimate instead
            rows, exact = min(self._plan_rows(queryset), self.cap + 1), False
        if rows <= self.cap:
            return rows if exact else CappedCount(rows, f"about {rows:,}")
        label = f"{self.cap:,}+"
        if not queryset.query.where:
            label = f"{label} (about {self._table_rows(queryset):,} in all)"
        return CappedCount(self.cap + 1, label)

    def page(self, number: Any) -> "Page[Any]":
        queryset = self.object_list
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if bottom < self.defer_from or not isinstance(queryset, QuerySet):
            return super().page(number)
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        pks = list(queryset.values_list("pk", flat=True)[bottom:top])
        found = {obj.pk: obj for obj in queryset.filter(pk__in=pks)}
        return Page([found[pk] for pk in pks if pk in found], number, self)

    def _capped_rows(self, queryset: "QuerySet[Any]") -> int:
        limited = queryset.order_by().values("pk")[: self.cap + 1]
        with transaction.atomic(using=queryset.db), connections[queryset.db].cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            previous = cursor.fetchone()[0]
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [f"{self.count_timeout_ms}ms"]
            )
            rows = limited.count()
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
        return rows

    @staticmethod
    def _table_rows(queryset: "QuerySet[Any]") -> int:
        table = queryset.model._meta.db_table
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(GREATEST(c.reltuples, 0)), 0)::bigint FROM pg_class c "
                "WHERE c.oid = to_regclass(%s) OR c.oid IN "
                "(SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass(%s))",
                [table, table],
            )
            return int(cursor.fetchone()[0])

    @staticmethod
    def _plan_rows(queryset: "QuerySet[Any]") -> int:
        try:
            sql, params = queryset.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:  # queryset.none(), or a filter that can match nothing
            return 0
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])


class BranchMergePaginator(CappedCountPaginator):
    """Pages of a list whose filter is an OR of ``branches``, each served by an index in the
    list's order (a manager's call logs: ``lead_workspace_id = w`` or ``lead_destination_id
    = w``, with ``(lead_workspace_id, call_time, id)`` indexes). Each branch's first rows up
    to the page's end are read apart (an index walk of at most that many rows, however rare
    or common the branch is in the table), merged in the list's order and cut to the page;
    one walk of the table's own order index would, for a branch with none or few rows,
    probe the whole table. Lists ordered by anything but plain column names (or with no
    branches) are paged as usual.

    ``replaces``: the columns of the list's own OR over the branches (its scope), left out
    of the branch reads: each branch implies it, and with it kept the planner multiplies
    the two selectivities, thinks a branch rare and sorts all of it (a dense workspace's
    page 201: 1.8 s instead of 0.4 s at 2,000,000 calls).

    ``probes_on_page``: the list's correlated ``EXISTS`` conditions (a manager's probe of
    each row's lead) are left out of the branch reads too and checked on the page's rows
    only, when they are fetched by id: a deep page probes 50 rows, not each branch's
    thousands (page 201 of a dense workspace read 10,050 rows and probed each). A row the
    probe refuses is not shown (its page is one row short); the probe still decides."""

    def __init__(
        self,
        object_list: Any,
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
        *,
        branches: Sequence[Q] = (),
        replaces: Sequence[str] = (),
        probes_on_page: bool = False,
    ) -> None:
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.branches = list(branches)
        self.replaces = frozenset(replaces)
        self.probes_on_page = probes_on_page

    def page(self, number: Any) -> "Page[Any]":
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().page(number)
        ordering = [name for name in queryset.query.order_by if isinstance(name, str)]
        if not ordering or len(ordering) != len(queryset.query.order_by):
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        rows = self._merged(queryset, ordering, bottom, top)
        return Page(rows, number, self)

    def _merged(
        self, queryset: "QuerySet[Any]", ordering: list[str], bottom: int, top: int
    ) -> list[Any]:
        keys = [name.lstrip("-") for name in ordering]
        base = self._without_replaced(queryset)
        rows: dict[Any, tuple[Any, ...]] = {}
        for branch in self.branches:
            for row in base.filter(branch).values_list("pk", *keys)[:top]:
                rows[row[0]] = row
        merged = list(rows.values())
        for position in reversed(range(len(keys))):  # stable sorts, last key first
            descending = ordering[position].startswith("-")
            merged.sort(key=lambda row: row[position + 1], reverse=descending)
        pks = [row[0] for row in merged[bottom:top]]
        found = {obj.pk: obj for obj in queryset.filter(pk__in=pks)}
        return [found[pk] for pk in pks if pk in found]

    def _without_replaced(self, queryset: "QuerySet[Any]") -> "QuerySet[Any]":
        if not self.replaces and not self.probes_on_page:
            return queryset
        base = queryset.all()  # a clone: its where is a copy
        where = base.query.where
        where.children = [
            node
            for node in where.children
            if not self._replaced(node) and not (self.probes_on_page and self._probe(node))
        ]
        return base

    @classmethod
    def _probe(cls, node: Any) -> bool:
        """``filter(Exists(...))``: a node of ``Exists(...) = true`` lookups only."""
        if isinstance(node, WhereNode):
            return (
                bool(node.children) and node.connector != OR and all(map(cls._probe, node.children))
            )
        return isinstance(node, Exists) or isinstance(getattr(node, "lhs", None), Exists)

    def _replaced(self, node: Any) -> bool:
        if not isinstance(node, WhereNode) or node.connector != OR or not node.children:
            return False
        columns = {getattr(getattr(c, "lhs", None), "target", None) for c in node.children}
        return {getattr(target, "column", None) for target in columns} <= self.replaces
