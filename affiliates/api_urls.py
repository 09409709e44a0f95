from django.urls import path

from affiliates import api

urlpatterns = [
    path("me", api.MeView.as_view(), name="me"),
    path("payment-methods", api.PaymentMethodListView.as_view(), name="payment-methods"),
    path("payment-methods/<int:pk>", api.PaymentMethodDetailView.as_view(), name="payment-method"),
    path(
        "payment-methods/<int:pk>/default",
        api.PaymentMethodDefaultView.as_view(),
        name="payment-method-default",
    ),
]
