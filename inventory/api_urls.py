from django.urls import path

from inventory import api

urlpatterns = [
    path("catalog", api.CatalogView.as_view(), name="catalog"),
    path("catalog.csv", api.CatalogCsvView.as_view(), name="catalog-csv"),
    path("catalog/<int:pk>", api.CatalogItemView.as_view(), name="catalog-item"),
]
