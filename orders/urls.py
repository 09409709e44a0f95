from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("", views.OrderListView.as_view(), name="list"),
    path("new", views.OrderCreateView.as_view(), name="new"),
    path("upload", views.OrderUploadView.as_view(), name="upload"),
    path("upload/template.csv", views.OrderUploadTemplateView.as_view(), name="upload-template"),
    path("fill-rate", views.FillRateView.as_view(), name="fill-rate"),
    path("<int:pk>/", views.OrderDetailView.as_view(), name="detail"),
    path("<int:pk>/pay", views.OrderPayView.as_view(), name="pay"),
    path("<int:pk>/cancel-request", views.CancelRequestView.as_view(), name="cancel-request"),
    path("<int:pk>/cancel-request/result", views.CancelResultView.as_view(), name="cancel-result"),
    path(
        "<int:pk>/lines/<int:line_id>/special-order",
        views.SpecialOrderRequestView.as_view(),
        name="special-order",
    ),
    path(
        "<int:pk>/lines/<int:line_id>/special-order/withdraw",
        views.SpecialOrderWithdrawView.as_view(),
        name="special-order-withdraw",
    ),
]
