from django.urls import path
from django.views.generic import RedirectView

from leads import views

app_name = "leads-page"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="leads-page:search"), name="home"),
    path("leads/", views.search, name="search"),
    path("leads/<int:lead_id>/", views.detail, name="detail"),
]
