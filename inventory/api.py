from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import renderers, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory import selectors
from inventory.models import Item
from inventory.views import feed_response
from sophio_fbs.errors import DomainError


class ItemSerializer(serializers.ModelSerializer):
    qty = serializers.IntegerField(source="available_qty")

    class Meta:
        model = Item
        fields = ["id", "line_code", "part_number", "description", "qty", "price"]


class CatalogView(APIView):
    @extend_schema(
        operation_id="catalog_list",
        parameters=[
            OpenApiParameter("search", str, description="Part number, exact or a prefix"),
            OpenApiParameter("line_code", str),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
            OpenApiParameter("limit", int, description="1-200, default 50"),
        ],
        responses=inline_serializer(
            "CatalogPage",
            {
                "results": ItemSerializer(many=True),
                "next_cursor": serializers.CharField(allow_null=True),
            },
        ),
    )
    def get(self, request):
        params = request.query_params
        try:
            limit = int(params.get("limit", selectors.CATALOG_PAGE_SIZE))
        except ValueError:
            raise DomainError("limit must be a whole number.", field="limit") from None
        try:
            page = selectors.catalog_page(
                affiliate=request.user.affiliate,
                search=params.get("search", "")[:60],
                line_code=params.get("line_code", "")[:10],
                cursor=params.get("cursor") or None,
                limit=limit,
            )
        except selectors.CursorInvalidError as exc:
            raise DomainError(str(exc), field="cursor") from exc
        return Response(
            {"results": ItemSerializer(page.items, many=True).data, "next_cursor": page.next_cursor}
        )


class CatalogItemView(APIView):
    @extend_schema(operation_id="catalog_retrieve", responses=ItemSerializer)
    def get(self, request, pk):
        try:
            item = selectors.item_for_affiliate(affiliate=request.user.affiliate, item_id=pk)
        except Item.DoesNotExist as exc:
            raise Http404 from exc
        return Response(ItemSerializer(item).data)


class CsvRenderer(renderers.BaseRenderer):
    """Lets content negotiation accept `text/csv` (and refuse what the endpoint cannot send);
    the CSV itself is streamed by feed_response, and errors are JSON (see finalize_response)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class CatalogCsvView(APIView):
    """Every item visible to the affiliate, as CSV: line_code,part_number,description,qty,price."""

    renderer_classes = [CsvRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response):
            # An error (401, 406, 429...) is JSON in the error shape, like every other one.
            response.accepted_renderer = renderers.JSONRenderer()
            response.accepted_media_type = response.accepted_renderer.media_type
        return response

    @extend_schema(operation_id="catalog_csv", responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        return feed_response(request.user.affiliate)
