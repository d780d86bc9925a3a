from django.urls import path

from calllogs import views

urlpatterns = [path("vici/call/", views.vici_call, name="vici-call-webhook")]
