from django.urls import path

from dialer.api import views

urlpatterns = [
    path("servers/", views.ServerListView.as_view(), name="dialer-server-list"),
    path("servers/<int:pk>/", views.ServerDetailView.as_view(), name="dialer-server-detail"),
    path("lists/", views.ListListView.as_view(), name="dialer-list-list"),
    path("lists/<int:pk>/", views.ListDetailView.as_view(), name="dialer-list-detail"),
]
