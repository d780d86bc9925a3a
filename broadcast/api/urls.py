from django.urls import path

from broadcast.api import config, views

urlpatterns = [
    path("devices/", config.DeviceListView.as_view(), name="device-list"),
    path("devices/<int:pk>/", config.DeviceDetailView.as_view(), name="device-detail"),
    path("sequences/", config.SequenceListView.as_view(), name="sequence-list"),
    path("sequences/<int:pk>/", config.SequenceDetailView.as_view(), name="sequence-detail"),
    path("enrollments/", views.EnrollmentsView.as_view(), name="enrollment-list"),
    path(
        "enrollments/<int:enrollment_id>/stop/",
        views.EnrollmentStopView.as_view(),
        name="enrollment-stop",
    ),
]
