"""The claims API: the same services as the Claims pages, for the affiliate's key.

Every read goes through the affiliate's own claims: another affiliate's claim id is a 404, and so
is another affiliate's order id when filing.
"""

from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.response import Response
from rest_framework.views import APIView

from claims import selectors, services
from claims.models import Claim, ClaimMessage
from claims.serializers import ClaimCreateSerializer, ClaimErrorSerializer, ClaimSerializer
from claims.views import request_too_large
from sophio_fbs.api import error_response
from sophio_fbs.errors import DomainError
from sophio_fbs.inputs import FormParser, JSONParser, MultiPartParser

CLAIMS_PAGE_SIZE = 50
CLAIMS_PAGE_MAX = 200

CLAIM_PAGE = inline_serializer(
    "ClaimPage",
    {
        "results": ClaimSerializer(many=True),
        "next_cursor": serializers.CharField(allow_null=True),
    },
)
ERRORS = {
    400: ClaimErrorSerializer,
    404: ClaimErrorSerializer,
    409: ClaimErrorSerializer,
    413: ClaimErrorSerializer,
}


def _claims(request):
    return selectors.claims_for_affiliate(affiliate=request.user.affiliate).prefetch_related(
        Prefetch("messages", queryset=ClaimMessage.objects.order_by("created_at", "id"))
    )


def _claim_data(request, claim_id: int) -> dict:
    try:
        return ClaimSerializer(_claims(request).get(pk=claim_id)).data
    except Claim.DoesNotExist as exc:
        raise Http404 from exc


def _int_param(params, name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise DomainError(f"{name} must be a whole number.", field=name) from None


class ClaimListView(APIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        operation_id="claims_list",
        parameters=[
            OpenApiParameter("status", str, description="in_review, needs_info, approved, ..."),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
            OpenApiParameter("limit", int, description=f"1-{CLAIMS_PAGE_MAX}, default 50"),
        ],
        responses={
            200: OpenApiResponse(CLAIM_PAGE, description="Newest first"),
            400: ClaimErrorSerializer,
        },
    )
    def get(self, request):
        params = request.query_params
        status = params.get("status", "")
        if status and status not in Claim.Status.values:
            raise DomainError(f"Unknown status {status!r}.", field="status")
        limit = max(1, min(_int_param(params, "limit", CLAIMS_PAGE_SIZE), CLAIMS_PAGE_MAX))
        claims = _claims(request).order_by("-id")
        if status:
            claims = claims.filter(status=status)
        cursor = _int_param(params, "cursor")
        if cursor is not None:
            claims = claims.filter(pk__lt=cursor)
        rows = list(claims[: limit + 1])
        next_cursor = str(rows[limit - 1].pk) if len(rows) > limit else None
        return Response(
            {"results": ClaimSerializer(rows[:limit], many=True).data, "next_cursor": next_cursor}
        )

    @extend_schema(
        operation_id="claims_create",
        description=(
            "File a claim for a line FBS voided, with the receipt of the part you bought "
            "elsewhere (multipart/form-data). It is `approved` at once (`auto_approved`) when "
            "every condition for payment without review is met; otherwise it is `in_review` and "
            "`reasons` lists the conditions not met. A receipt that is not a real PDF, JPEG or "
            "PNG, or that carries scripts, is refused (400, code receipt_...) and nothing is kept."
        ),
        request={"multipart/form-data": ClaimCreateSerializer},
        responses={201: ClaimSerializer, **ERRORS},
    )
    def post(self, request):
        if request_too_large(request):
            return error_response(
                status_code=http.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                code="receipt_too_large",
                message="The request is over the 10 MB receipt limit.",
                fields={"receipt": ["The receipt is over the 10 MB limit."]},
            )
        serializer = ClaimCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        claim = services.claim_file(
            affiliate=request.user.affiliate,
            user=request.user,
            order_id=data["order"],
            line_id=data.get("line"),
            supplier_name=data["supplier_name"],
            purchased_on=data["purchased_on"],
            amount=data["amount"],
            receipt=data.get("receipt"),
        )
        return Response(_claim_data(request, claim.pk), status=http.HTTP_201_CREATED)


class ClaimDetailView(APIView):
    @extend_schema(
        operation_id="claims_retrieve", responses={200: ClaimSerializer, 404: ClaimErrorSerializer}
    )
    def get(self, request, pk):
        return Response(_claim_data(request, pk))
