from django.urls import path

from leads.api import suppressions, views

urlpatterns = [
    path("leads/", views.LeadListCreateView.as_view(), name="lead-list"),
    path("leads/bulk/", views.LeadBulkView.as_view(), name="lead-bulk"),
    path("leads/<int:lead_id>/", views.LeadDetailView.as_view(), name="lead-detail"),
    path("leads/<int:lead_id>/history/", views.LeadHistoryView.as_view(), name="lead-history"),
    path(
        "suppressions/",
        suppressions.SuppressionListView.as_view(),
        name="suppression-list",
    ),
    path(
        "suppressions/check/",
        suppressions.SuppressionCheckView.as_view(),
        name="suppression-check",
    ),
    path(
        "suppressions/<int:pk>/",
        suppressions.SuppressionDetailView.as_view(),
        name="suppression-detail",
    ),
]
