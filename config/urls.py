from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from broadcast.api.views import LeadMessagesView
from core import views as core_views
from core.admin_pages import slow_statements_view
from routing.api.views import LeadRerouteView as RerouteView

api_v1: list[URLPattern | URLResolver] = [
    path("leads/<int:lead_id>/reroute/", RerouteView.as_view(), name="lead-reroute-alias"),
    path("leads/<int:lead_id>/messages/", LeadMessagesView.as_view(), name="lead-messages"),
    path("", include("leads.api.urls")),
    path("routing/", include("routing.api.urls")),
    path("broadcast/", include("broadcast.api.urls")),
    path("dialer/", include("dialer.api.urls")),
    path("", include("calllogs.api.urls")),
]

urlpatterns = [
    path(
        "admin/slow-statements/",
        admin.site.admin_view(slow_statements_view),
        name="admin-slow-statements",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("health", core_views.health, name="health"),
    path("health/", core_views.health),
    path("webhooks/", include("calllogs.urls")),
    path("webhooks/", include("broadcast.urls")),
    path("", include("leads.urls")),
    path("metrics", core_views.metrics, name="prometheus-django-metrics"),
]

handler400 = "core.api_errors.bad_request"
handler403 = "core.api_errors.permission_denied"
handler404 = "core.api_errors.not_found"
handler500 = "core.api_errors.server_error"
