from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from core.actors import user_actor
from core.admin import (
    LiveFormMixin,
    ScopedBigTableAdmin,
    ScopedInlineMixin,
    WorkspaceScopedAdmin,
)
from core.scope import workspace_ids_for
from leads.admin_links import LeadIdSearchMixin, LeadLinkMixin, LeadScopedAdminMixin
from leads.selectors import custom_keys_recent
from routing import selectors, services
from routing.admin_forms import (
    ConditionForm,
    ConditionFormSet,
    DestinationForm,
    summary_of_post,
)
from routing.models import RetryItem, RoutingLog, RoutingRule, RuleCondition, RuleDestination
from routing.summary import group_label, rule_summary


class RuleConditionInline(ScopedInlineMixin, admin.TabularInline):
    model = RuleCondition
    form = ConditionForm
    formset = ConditionFormSet
    extra = 1
    fields = ["group_name", "field", "operator", "value"]

    def get_formset(self, request, obj=None, **kwargs):
        names = []
        for condition in obj.conditions.all() if obj is not None and obj.pk else []:
            label = group_label(condition.group, condition.group_name)
            if label not in names:
                names.append(label)
        form = type(
            "ConditionForm",
            (ConditionForm,),
            {
                "custom_keys": custom_keys_recent(workspace_ids=workspace_ids_for(request.user)),
                "group_names": names,
            },
        )
        return super().get_formset(request, obj, form=form, **kwargs)


class RuleDestinationForm(forms.ModelForm):
    """A destination (the model's ``clean``: days, window, weight); the configuration API
    validates with it too."""

    class Meta:
        model = RuleDestination
        fields = [
            "rule",
            "workspace",
            "vici_list",
            "sequence",
            "is_active",
            "weight",
            "cap_per_hour",
            "cap_per_day",
            "timezone",
            "schedule_days",
            "schedule_start",
            "schedule_end",
        ]


class RuleDestinationInline(ScopedInlineMixin, admin.StackedInline):
    model = RuleDestination
    form = DestinationForm
    extra = 1
    autocomplete_fields = ["workspace"]
    fields = [
        ("workspace", "is_active", "weight"),
        ("vici_list", "sequence"),
        ("cap_per_hour", "cap_per_day"),
        "schedule_days",
        ("schedule_start", "schedule_end", "timezone"),
    ]


class RuleTestForm(forms.Form):
    last = forms.IntegerField(
        min_value=1, max_value=5000, initial=200, help_text="How many of the newest leads to try."
    )


@admin.register(RoutingRule)
class RoutingRuleAdmin(LiveFormMixin, WorkspaceScopedAdmin):
    live_name = "summary"
    # Scoped by routing.selectors.rules_visible: source and destination workspaces.
    workspace_path = "workspaces"
    list_display = ["name", "summary", "priority", "is_active", "hits_today", "updated_at"]
    list_display_links = ["name"]
    list_editable = ["priority", "is_active"]
    list_filter = ["is_active", "distribution"]
    search_fields = ["name"]
    ordering = ["-priority", "id"]
    filter_horizontal = ["workspaces"]
    inlines = [RuleConditionInline, RuleDestinationInline]
    readonly_fields = ["summary"]
    fieldsets = [
        (None, {"fields": ["summary", "name", ("is_active", "priority"), "distribution"]}),
        ("Which leads (empty: all)", {"fields": ["workspaces", "sources"]}),
    ]
    actions = ["duplicate", "activate", "deactivate"]
    change_form_template = "admin/routing/routingrule/change_form.html"

    class Media:
        css = {"all": ["routing/rule_editor.css"]}

    def scope_queryset(self, request, queryset, workspace_ids):
        return selectors.rules_visible(queryset, workspace_ids=workspace_ids)

    def get_form(
        self,
        request: HttpRequest,
        obj: RoutingRule | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> "type[forms.ModelForm[RoutingRule]]":
        form = super().get_form(request, obj, change, **kwargs)
        if workspace_ids_for(request.user) is None:
            return form

        class ScopedRuleForm(form):  # type: ignore[valid-type,misc]  # a base made per request
            def clean_workspaces(self):
                workspaces = self.cleaned_data.get("workspaces")
                if not workspaces:
                    raise forms.ValidationError(
                        "Choose the workspaces whose leads this rule routes (yours only)."
                    )
                return workspaces

        return ScopedRuleForm

    def get_queryset(self, request):
        today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        hits = (
            RoutingLog.objects.filter(
                rule_id=OuterRef("pk"), created_at__gte=today, outcome=RoutingLog.Outcome.ROUTED
            )
            .order_by()
            .values("rule_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(_hits=Coalesce(Subquery(hits, output_field=IntegerField()), Value(0)))
            .prefetch_related(
                "conditions",
                Prefetch("destinations", RuleDestination.objects.select_related("workspace")),
                "workspaces",
            )
        )

    @admin.display(description="in plain words")
    def summary(self, obj):
        if obj is None or obj.pk is None:
            return "Save the rule to read it in plain words here."
        return rule_summary(obj)

    @admin.display(description="hits today", ordering="_hits")
    def hits_today(self, obj):
        return obj._hits

    @admin.action(description="Duplicate selected rules (inactive copies)", permissions=["add"])
    def duplicate(self, request, queryset):
        count = 0
        for rule in queryset:
            services.rule_duplicate(rule=rule)
            count += 1
        self.message_user(request, f"Duplicated {count} rule(s); the copies are inactive.")

    @admin.action(description="Activate selected rules", permissions=["change"])
    def activate(self, request, queryset):
        count = services.rules_set_active(
            rule_ids=list(queryset.values_list("pk", flat=True)), active=True
        )
        self.message_user(request, f"Activated {count} rule(s).")

    @admin.action(description="Deactivate selected rules", permissions=["change"])
    def deactivate(self, request, queryset):
        count = services.rules_set_active(
            rule_ids=list(queryset.values_list("pk", flat=True)), active=False
        )
        self.message_user(request, f"Deactivated {count} rule(s).")

    def get_urls(self):
        return (
            [
                path(
                    "<int:rule_id>/test/",
                    self.admin_site.admin_view(self.test_view),
                    name="routing_routingrule_test",
                ),
            ]
            + self.live_urls()
            + super().get_urls()
        )

    def live_answer(self, form, formsets):
        """The rule form as posted, in words (nothing saved): the form's live summary."""
        return JsonResponse({"text": summary_of_post(form=form, formsets=formsets)})

    def test_view(self, request, rule_id):
        rule = self.get_queryset(request).filter(pk=rule_id).first()
        if rule is None or not self.has_view_permission(request, rule):
            raise Http404
        form = RuleTestForm(request.GET or None)
        result = None
        if form.is_valid():
            result = selectors.rule_test(
                rule=rule,
                last=form.cleaned_data["last"],
                workspace_ids=workspace_ids_for(request.user),
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": rule,
            "form": form,
            "result": result,
            "summary": rule_summary(rule),
            "title": f"Test rule: {rule.name}",
        }
        return render(request, "admin/routing/routingrule/test.html", context)


@admin.register(RoutingLog)
class RoutingLogAdmin(LeadScopedAdminMixin, LeadLinkMixin, LeadIdSearchMixin, ScopedBigTableAdmin):
    list_display = [
        "created_at",
        "lead_link",
        "outcome",
        "rule_name",
        "reason",
        "duration_ms",
        "worker",
    ]
    list_filter = ["outcome"]
    ordering = ["-created_at"]
    lead_scope_stamped = True  # lead_workspace_id / lead_destination_id (routing 0005)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RetryStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("waiting", "Waiting to retry"), ("failed", "Failed (gave up)")]

    def queryset(self, request, queryset):
        if self.value() == "waiting":
            return queryset.filter(is_dead=False)
        if self.value() == "failed":
            return queryset.filter(is_dead=True)
        return queryset


@admin.register(RetryItem)
class RetryItemAdmin(LeadScopedAdminMixin, LeadLinkMixin, LeadIdSearchMixin, WorkspaceScopedAdmin):
    workspace_path = "lead_id"
    list_display = [
        "lead_link",
        "attempts",
        "next_retry_at",
        "is_dead",
        "short_error",
        "updated_at",
    ]
    list_filter = [RetryStateFilter]
    ordering = ["next_retry_at"]
    readonly_fields = [
        "lead_id",
        "attempts",
        "next_retry_at",
        "is_dead",
        "last_error",
        "created_at",
        "updated_at",
    ]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="error")
    def short_error(self, obj):
        return obj.last_error[:120]

    @admin.action(description="Retry now", permissions=["change"])
    def retry_now(self, request, queryset):
        lead_ids = list(queryset.values_list("lead_id", flat=True))
        services.retry_now(lead_ids=lead_ids, actor=user_actor(request.user))
        transaction.on_commit(lambda: _wake_retry())
        self.message_user(
            request, f"{len(lead_ids)} lead(s) will be routed again now.", messages.SUCCESS
        )


def _wake_retry() -> None:
    from routing.tasks import retry_drain_task

    retry_drain_task.apply_async(countdown=0)
