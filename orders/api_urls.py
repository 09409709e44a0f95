from django.urls import path

from orders import api

urlpatterns = [
    path("orders", api.OrderListView.as_view(), name="orders"),
    path("orders/<int:pk>", api.OrderDetailView.as_view(), name="order"),
    path(
        "orders/<int:pk>/cancel-request",
        api.OrderCancelRequestView.as_view(),
        name="order-cancel-request",
    ),
    path("orders/<int:pk>/pay", api.OrderPayView.as_view(), name="order-pay"),
    path(
        "orders/<int:pk>/special-order",
        api.OrderSpecialOrderView.as_view(),
        name="order-special-order",
    ),
    path(
        "orders/<int:pk>/special-order/withdraw",
        api.OrderSpecialOrderWithdrawView.as_view(),
        name="order-special-order-withdraw",
    ),
]
