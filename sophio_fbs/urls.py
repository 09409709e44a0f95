from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from affiliates.views import LoginView
from sophio_fbs.views import favicon

admin.site.site_header = "FBS staff admin"
admin.site.site_title = "FBS admin"
admin.site.index_title = "Support and finance"

api_v1 = [
    path("", include("affiliates.api_urls")),
    path("", include("inventory.api_urls")),
    path("", include("orders.api_urls")),
    path("", include("claims.api_urls")),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include((api_v1, "api"))),
    path("catalog/", include("inventory.urls")),
    path("orders/", include("orders.urls")),
    path("claims/", include("claims.urls")),
    path("favicon.ico", favicon, name="favicon"),
    path("", include("affiliates.urls")),
]

handler400 = "sophio_fbs.views.bad_request"
