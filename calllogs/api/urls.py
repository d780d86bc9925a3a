from django.urls import path

from calllogs.api import views

urlpatterns = [
    path("leads/<int:lead_id>/calls/", views.LeadCallsView.as_view(), name="lead-calls"),
    path(
        "dialer/servers/<int:server_id>/call-urls/",
        views.ServerCallUrlsView.as_view(),
        name="dialer-server-call-urls",
    ),
]
