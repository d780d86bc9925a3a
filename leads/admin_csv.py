"""The lead admin's CSV: the streamed import (size-capped, per-row report) and the export
(cells a spreadsheet would run are neutralised)."""

from typing import cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html

from core.actors import user_actor
from core.admin import ModelAdminMixin
from core.csv_safe import csv_writer
from core.scope import workspace_ids_for
from leads import fields as lead_fields
from leads.csv_import import CsvImportError, ImportSummary, csv_import, csv_report
from leads.models import Workspace
from leads.selectors import workspaces_visible


class CsvImportForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=Workspace.objects.none())
    file = forms.FileField(help_text="CSV, UTF-8, with a header row (phone and/or email).")

    def __init__(self, *args, workspace_ids=None, **kwargs):
        super().__init__(*args, **kwargs)
        visible = workspaces_visible(workspace_ids=workspace_ids)
        workspace = cast(forms.ModelChoiceField, self.fields["workspace"])
        workspace.queryset = visible.filter(is_active=True)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.CSV_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; the limit is "
                f"{filesizeformat(limit)}. Split it into smaller files."
            )
        return upload


def _stream_csv(queryset):
    class Echo:
        def write(self, value):
            return value

    writer = csv_writer(Echo())
    columns = list(lead_fields.EXPORT)
    yield writer.writerow(columns)
    for row in queryset.values_list(*columns).iterator(chunk_size=2000):
        yield writer.writerow(row)


class LeadCsvAdminMixin(ModelAdminMixin):
    """``actions = ["export_csv"]`` plus the import and report views (``get_urls``)."""

    @admin.action(description="Export selected leads as CSV", permissions=["export"])
    def export_csv(self, request, queryset):
        response = StreamingHttpResponse(_stream_csv(queryset), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="leads.csv"'
        return response

    def get_urls(self):
        return [
            path(
                "import-csv/",
                self.admin_site.admin_view(self.import_csv_view),
                name="leads_lead_import_csv",
            ),
            path(
                "import-csv/report/<str:token>/",
                self.admin_site.admin_view(self.import_report_view),
                name="leads_lead_import_report",
            ),
        ] + super().get_urls()

    def import_csv_view(self, request):
        if not self.has_view_permission(request) or not request.user.has_perm("leads.add_lead"):
            raise Http404
        form = CsvImportForm(
            request.POST or None,
            request.FILES or None,
            workspace_ids=workspace_ids_for(request.user),
        )
        if request.method == "POST" and form.is_valid():
            try:
                summary = csv_import(
                    workspace=form.cleaned_data["workspace"],
                    file=form.cleaned_data["file"].file,
                    actor=user_actor(request.user),
                )
            except CsvImportError as exc:
                form.add_error("file", str(exc))
            else:
                self._report_import(request, summary)
                return redirect("admin:leads_lead_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Import leads from CSV",
        }
        return render(request, "admin/leads/lead/import_csv.html", context)

    def _report_import(self, request, summary: ImportSummary) -> None:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items()))
        if summary.report_token:
            report = reverse("admin:leads_lead_import_report", args=[summary.report_token])
            self.message_user(
                request,
                format_html(
                    'Imported {} rows: {}. <a href="{}">Download the per-row report</a>.',
                    summary.rows,
                    counts or "nothing",
                    report,
                ),
            )
        else:
            self.message_user(
                request,
                f"Imported {summary.rows} rows: {counts or 'nothing'}. The per-row report could "
                f"not be stored (cache unavailable). "
                + ("Rejected: " + "; ".join(summary.problems) if summary.problems else ""),
                messages.WARNING,
            )
        if not summary.routing_woken:
            self.message_user(
                request,
                "The task queue is unavailable: the new leads are routed by the periodic "
                "sweep once it is back.",
                messages.WARNING,
            )

    def import_report_view(self, request, token):
        report = csv_report(token, actor=user_actor(request.user))
        if report is None:
            raise Http404("This report has expired.")
        response = HttpResponse(report, content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="import-report.csv"'
        return response
