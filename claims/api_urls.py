from django.urls import path  # noqa: F401 - patterns come with the claims API

urlpatterns = []
