from django.urls import path

from routing.api import destinations, views

urlpatterns = [
    path("rules/", views.RuleListCreateView.as_view(), name="routing-rule-list"),
    path("rules/<int:rule_id>/", views.RuleDetailView.as_view(), name="routing-rule-detail"),
    path("rules/<int:rule_id>/test/", views.RuleTestView.as_view(), name="routing-rule-test"),
    path(
        "destinations/",
        destinations.DestinationListView.as_view(),
        name="routing-destination-list",
    ),
    path(
        "destinations/<int:pk>/",
        destinations.DestinationDetailView.as_view(),
        name="routing-destination-detail",
    ),
    path("leads/<int:lead_id>/reroute/", views.LeadRerouteView.as_view(), name="lead-reroute"),
]
