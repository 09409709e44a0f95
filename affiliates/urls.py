from django.urls import include, path

from affiliates import views

settings_patterns = [
    path("", views.SettingsView.as_view(), name="settings"),
    path("account", views.AccountUpdateView.as_view(), name="account-update"),
    path("cards/add", views.CardAddView.as_view(), name="card-add"),
    path("paypal/add", views.PaypalAddView.as_view(), name="paypal-add"),
    path(
        "payment-methods/<int:pk>/default",
        views.PaymentMethodDefaultView.as_view(),
        name="payment-method-default",
    ),
    path(
        "payment-methods/<int:pk>/remove",
        views.PaymentMethodRemoveView.as_view(),
        name="payment-method-remove",
    ),
    path("api-keys/create", views.ApiKeyCreateView.as_view(), name="api-key-create"),
    path("api-keys/<int:pk>/revoke", views.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
]

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("settings/", include((settings_patterns, "affiliates"))),
]
