from django.urls import path

from inventory import views

app_name = "inventory"

urlpatterns = [
    path("", views.CatalogView.as_view(), name="catalog"),
    path("feed.csv", views.FeedDownloadView.as_view(), name="feed"),
    path("<int:pk>/", views.ItemDetailView.as_view(), name="item"),
]
