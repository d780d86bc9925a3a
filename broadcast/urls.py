from django.urls import path

from broadcast import views

urlpatterns = [
    path("gateway/<int:device_id>/", views.gateway_webhook, name="gateway-webhook"),
]
