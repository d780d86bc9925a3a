from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from leads import views

app_name = "leads-page"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="leads-page:queue"), name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="leads/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("leads/", views.queue, name="queue"),
    path("leads/<int:lead_id>/", views.detail, name="detail"),
    path("leads/<int:lead_id>/timeline/", views.timeline, name="timeline"),
    path("leads/<int:lead_id>/note/", views.note, name="note"),
    path("leads/<int:lead_id>/outcome/", views.outcome, name="outcome"),
]
