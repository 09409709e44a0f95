from django.urls import path

from claims import api

urlpatterns = [
    path("claims", api.ClaimListView.as_view(), name="claims"),
    path("claims/<int:pk>", api.ClaimDetailView.as_view(), name="claim"),
]
