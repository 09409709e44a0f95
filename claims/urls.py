from django.urls import path

from claims import views

app_name = "claims"

urlpatterns = [
    path("", views.ClaimListView.as_view(), name="list"),
    path("new", views.ClaimCreateView.as_view(), name="new"),
    path("<int:pk>/", views.ClaimDetailView.as_view(), name="detail"),
    path("<int:pk>/messages", views.ClaimReplyView.as_view(), name="reply"),
    path("<int:pk>/receipt", views.ReceiptDownloadView.as_view(), name="receipt"),
    path(
        "<int:pk>/messages/<int:message_id>/receipt",
        views.MessageReceiptDownloadView.as_view(),
        name="message-receipt",
    ),
]
