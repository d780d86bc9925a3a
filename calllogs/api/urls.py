from django.urls import path

from calllogs.api import views

urlpatterns = [path("leads/<int:lead_id>/calls/", views.LeadCallsView.as_view(), name="lead-calls")]
