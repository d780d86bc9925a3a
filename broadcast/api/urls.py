from django.urls import path

from broadcast.api import views

urlpatterns = [
    path("sequences/", views.SequenceListView.as_view(), name="sequence-list"),
    path("enrollments/", views.EnrollmentsView.as_view(), name="enrollment-list"),
    path(
        "enrollments/<int:enrollment_id>/stop/",
        views.EnrollmentStopView.as_view(),
        name="enrollment-stop",
    ),
]
