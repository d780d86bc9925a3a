"""Admin of enrollment work: pending enrollment requests, and the lead changelist's
"Enroll in a sequence…" action (the lead admin lives in a lower layer, so the action is
attached from here)."""

from typing import cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Q
from django.template.response import TemplateResponse

from broadcast import selectors, services
from broadcast.models import EnrollmentRequest, Sequence
from core.actors import user_actor
from core.admin import WorkspaceScopedAdmin
from core.errors import ApplicationError
from core.scope import workspace_ids_for
from leads.admin import LeadAdmin

ADMIN_ENROLL_INLINE_LIMIT = 20_000  # larger selections are enrolled by a worker


@admin.register(EnrollmentRequest)
class EnrollmentRequestAdmin(WorkspaceScopedAdmin):
    """Enrollment work waiting in its table: for an active device, or for a worker."""

    workspace_path = "sequence__workspace"

    list_display = [
        "id",
        "sequence",
        "lead_count",
        "reason",
        "status",
        "attempts",
        "created_at",
        "attempted_at",
        "short_error",
    ]
    list_filter = ["status", "reason"]
    list_select_related = ["sequence"]
    ordering = ["-id"]
    actions = ["carry_out", "retry"]
    readonly_fields = (
        "sequence",
        "lead_count",
        "first_leads",
        "actor",
        "reason",
        "status",
        "attempts",
        "last_error",
        "result",
        "created_at",
        "attempted_at",
        "done_at",
    )
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("lead_ids")  # up to 10,000 ids a row

    def has_add_permission(self, request):
        return False

    @admin.display(description="error")
    def short_error(self, obj):
        return (obj.last_error or "")[:80]

    @admin.display(description="first leads")
    def first_leads(self, obj):
        ids = EnrollmentRequest.objects.filter(pk=obj.pk).values_list("lead_ids", flat=True)
        shown = (ids.first() or [])[:20]
        more = obj.lead_count - len(shown)
        return ", ".join(map(str, shown)) + (f" and {more} more" if more > 0 else "")

    @admin.action(description="Carry out the selected requests now", permissions=["change"])
    def carry_out(self, request, queryset):
        ids = list(
            queryset.filter(status=EnrollmentRequest.Status.PENDING).values_list("pk", flat=True)
        )
        run = services.enrollment_requests_process(request_ids=ids, seconds=20)
        self.message_user(
            request,
            f"Carried out {run.done} request(s): {run.created} enrollment(s); "
            f"{run.waiting} still without an active device; {run.failed} failed.",
        )

    @admin.action(description="Retry the selected failed requests", permissions=["change"])
    def retry(self, request, queryset):
        count = services.enrollment_requests_retry(
            request_ids=queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"{count} failed request(s) wait again.")


# --- "Enroll in a sequence" on the lead changelist ------------------------------------------


class EnrollForm(forms.Form):
    sequence = forms.ModelChoiceField(queryset=Sequence.objects.none())

    def __init__(self, *args, workspace_ids=None, **kwargs):
        super().__init__(*args, **kwargs)
        sequences = selectors.sequences_for(workspace_ids=workspace_ids)
        sequence = cast(forms.ModelChoiceField, self.fields["sequence"])
        sequence.queryset = sequences.filter(is_active=True)


@admin.action(description="Enroll in a sequence…", permissions=["enroll"])
def enroll_in_sequence(modeladmin, request, queryset):
    form = EnrollForm(
        request.POST if "apply" in request.POST else None,
        workspace_ids=workspace_ids_for(request.user),
    )
    if form.is_bound and form.is_valid():
        sequence = form.cleaned_data["sequence"]
        ids = queryset.filter(
            Q(workspace_id=sequence.workspace_id)
            | Q(destination_workspace_id=sequence.workspace_id)
        ).values_list("id", flat=True)
        lead_ids = list(ids[: ADMIN_ENROLL_INLINE_LIMIT + 1])
        if len(lead_ids) > ADMIN_ENROLL_INLINE_LIMIT:
            _enroll_later(modeladmin, request, sequence, ids.order_by("id"))
        else:
            _enroll_now(modeladmin, request, sequence, lead_ids)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Enroll leads in a sequence",
        "form": form,
        "queryset": queryset,
        "count": len(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/broadcast/enroll.html", context)


def _enroll_later(modeladmin, request, sequence: Sequence, ids) -> None:
    """A large selection waits in pending enrollment requests (10,000 leads a row) for a
    worker; Redis only wakes it, and beat's sweeper carries out what a lost wake missed."""
    rows, queued = services.enrollment_requests_queue(
        sequence_id=sequence.pk,
        workspace_id=sequence.workspace_id,
        lead_ids=ids.iterator(chunk_size=10_000),
        reason=EnrollmentRequest.Reason.QUEUED,
        actor=user_actor(request.user),
    )
    modeladmin.message_user(
        request,
        f"Enrolling {queued} leads in {sequence} in the background "
        f"({rows} enrollment request(s), under Broadcast > Enrollment requests).",
    )


def _enroll_now(modeladmin, request, sequence: Sequence, lead_ids: list[int]) -> None:
    try:
        result = services.enrollment_create_many(
            lead_ids=lead_ids,
            sequence_id=sequence.pk,
            actor=user_actor(request.user),
            if_no_device="queue",
        )
    except ApplicationError as exc:
        modeladmin.message_user(request, exc.message, level=messages.ERROR)
        return
    if result.queued:
        modeladmin.message_user(
            request,
            f"No device of {sequence} is active: {result.queued} lead(s) wait in a pending "
            "enrollment request and are enrolled when a device is active again.",
            level=messages.WARNING,
        )
        return
    skipped = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in result.skipped.items())
    modeladmin.message_user(
        request,
        f"Enrolled {result.created} lead(s) in {sequence}."
        + (f" Skipped: {skipped}." if skipped else ""),
    )


def has_enroll_permission(modeladmin, request) -> bool:
    """Enrolling writes enrollments: the broadcast app's own permission, not the lead's."""
    return request.user.has_perm("broadcast.add_enrollment")


# Set from here: leads knows nothing of broadcast (the layers), so the checker cannot either.
LeadAdmin.has_enroll_permission = has_enroll_permission  # type: ignore[attr-defined]
LeadAdmin.actions = [*LeadAdmin.actions, enroll_in_sequence]
