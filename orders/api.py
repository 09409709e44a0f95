"""The orders API: the same services as the Order Management page, for the affiliate's key.

Every endpoint reads the order through the affiliate's own orders first: another affiliate's
order id is a 404, whatever the method.
"""

import hashlib
import json
from datetime import UTC, datetime

from django.db.models import Prefetch, Q
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

from orders import selectors, services
from orders.emails import BUYER_MESSAGE_TOO_LATE
from orders.errors import (
    OrderRefusedError,
    OrderStatusError,
)
from orders.models import Order, OrderLine
from orders.serializers import (
    CancelRequestResultSerializer,
    CancelRequestSerializer,
    OrderCreateSerializer,
    OrderErrorSerializer,
    OrderLineRefSerializer,
    OrderSerializer,
)
from sophio_fbs.api import error_response
from sophio_fbs.cursors import INVALID_MESSAGE as INVALID_CURSOR
from sophio_fbs.cursors import CursorInvalidError, decode_cursor, encode_cursor
from sophio_fbs.errors import DomainError
from sophio_fbs.inputs import has_invalid_characters

ORDERS_PAGE_SIZE = 50
# The largest page one request may ask for: the same bound as the catalog's.
ORDERS_PAGE_MAX = 200

IDEMPOTENCY_HEADER = "Idempotency-Key"
# ApiIdempotencyKey.key's column length.
IDEMPOTENCY_KEY_MAX = 255

ORDER_PAGE = inline_serializer(
    "OrderPage",
    {
        "results": OrderSerializer(many=True),
        "next_cursor": serializers.CharField(allow_null=True),
    },
)
ERRORS = {
    400: OrderErrorSerializer,
    402: OrderErrorSerializer,
    404: OrderErrorSerializer,
    409: OrderErrorSerializer,
}


def _own_order(request, pk: int) -> Order:
    try:
        return selectors.orders_for_affiliate(affiliate=request.user.affiliate).get(pk=pk)
    except Order.DoesNotExist as exc:
        raise Http404 from exc


def _order_data(request, order_id: int) -> dict:
    """The order as it is now, read again after the service that changed it."""
    order = selectors.order_summary_for_affiliate(
        affiliate=request.user.affiliate, order_id=order_id
    )
    return OrderSerializer(order).data


def _refused_response(exc: OrderRefusedError) -> Response:
    fields = {exc.field: [exc.message]} if exc.field else None
    response = error_response(
        status_code=exc.status_code, code=exc.code, message=exc.message, fields=fields
    )
    response.data["error"]["problems"] = exc.problems
    return response


# --- Paging -----------------------------------------------------------------------------------


def _encode_cursor(order: Order) -> str:
    return encode_cursor([order.created_at.isoformat(), order.pk])


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(created_at, id) of the last order of the previous page: an aware timestamp and a bigint
    (sophio_fbs/cursors.py checks the types and characters); a 400 naming `cursor` otherwise."""
    try:
        created, pk = decode_cursor(cursor, (str, int))
        created = datetime.fromisoformat(created)
        if created.tzinfo is None:
            raise CursorInvalidError
        # In UTC: PostgreSQL takes no offset with fractions of a second ("-14:58:35.9"), which
        # Python does; an instant outside Python's years once in UTC is no cursor of ours.
        created = created.astimezone(UTC)
    except (CursorInvalidError, ValueError, OverflowError) as exc:
        raise DomainError(INVALID_CURSOR, field="cursor") from exc
    return created, pk


def _limit(params) -> int:
    try:
        limit = int(params.get("limit", ORDERS_PAGE_SIZE))
    except ValueError:
        raise DomainError("limit must be a whole number.", field="limit") from None
    return max(1, min(limit, ORDERS_PAGE_MAX))


# --- Idempotent placement ---------------------------------------------------------------------


def _idempotency_key(request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    # A header is a string the database must store too: no NUL or other control character.
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or has_invalid_characters(key):
        raise DomainError(
            f"{IDEMPOTENCY_HEADER} must be 1 to {IDEMPOTENCY_KEY_MAX} printable characters.",
            field=IDEMPOTENCY_HEADER,
            code="idempotency_key_invalid",
        )
    return key


def _request_hash(data: dict) -> str:
    """The validated body as canonical JSON: key order and spacing do not make a new request."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- Endpoints --------------------------------------------------------------------------------


class OrderListView(APIView):
    @extend_schema(
        operation_id="orders_list",
        parameters=[
            OpenApiParameter("status", str, enum=Order.Status.values),
            OpenApiParameter("search", str, description="FBS-0000042, 42, or the marketplace's"),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
            OpenApiParameter("limit", int, description=f"1-{ORDERS_PAGE_MAX}, default 50"),
        ],
        responses={
            200: OpenApiResponse(ORDER_PAGE, description="Newest first"),
            400: OrderErrorSerializer,
        },
    )
    def get(self, request):
        params = request.query_params
        status = params.get("status", "")
        if status and status not in Order.Status.values:
            raise DomainError(f"Unknown status {status!r}.", field="status")
        limit = _limit(params)
        orders = selectors.orders_for_affiliate(
            affiliate=request.user.affiliate, status=status, search=params.get("search", "")[:60]
        )
        if params.get("cursor"):
            created, pk = _decode_cursor(params["cursor"])
            orders = orders.filter(Q(created_at__lt=created) | Q(created_at=created, pk__lt=pk))
        rows = list(
            orders.prefetch_related(
                Prefetch("lines", queryset=OrderLine.objects.select_related("warehouse")),
                "ledger_entries",
            )[: limit + 1]
        )
        next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return Response(
            {
                "results": OrderSerializer(rows[:limit], many=True).data,
                "next_cursor": next_cursor,
            }
        )

    @extend_schema(
        operation_id="orders_create",
        description=(
            "Place an order. With a valid payment method on file it is charged at once and waits "
            "in the queue for the cancel window. Send an Idempotency-Key to retry safely: the "
            "same key with the same body answers with the first order (200, "
            "`Idempotent-Replayed: true`); with another body it is refused (422)."
        ),
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                location=OpenApiParameter.HEADER,
                description=f"Up to {IDEMPOTENCY_KEY_MAX} characters, unique per order",
            )
        ],
        request=OrderCreateSerializer,
        responses={
            201: OrderSerializer,
            200: OpenApiResponse(OrderSerializer, description="Placed before with this key"),
            400: OpenApiResponse(
                OrderErrorSerializer, description="Not placed: `problems` says what to fix"
            ),
            422: OpenApiResponse(OrderErrorSerializer, description="Key used for another body"),
        },
    )
    def post(self, request):
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        affiliate, key = request.user.affiliate, _idempotency_key(request)
        try:
            if key is None:
                order = services.order_place(affiliate=affiliate, user=request.user, **data)
                replayed = False
            else:
                order, replayed = services.order_place_once(
                    affiliate=affiliate,
                    user=request.user,
                    key=key,
                    request_hash=_request_hash(data),
                    data=data,
                )
        except OrderRefusedError as exc:
            return _refused_response(exc)
        if replayed:
            return Response(_order_data(request, order.pk), headers={"Idempotent-Replayed": "true"})
        return Response(_order_data(request, order.pk), status=http.HTTP_201_CREATED)


class OrderDetailView(APIView):
    @extend_schema(
        operation_id="orders_retrieve", responses={200: OrderSerializer, 404: OrderErrorSerializer}
    )
    def get(self, request, pk):
        return Response(_order_data(request, _own_order(request, pk).pk))


class OrderCancelRequestView(APIView):
    @extend_schema(
        operation_id="orders_cancel_request",
        description=(
            "Cancel Request: `cancelled` (and refunded) while the order waits in the queue; "
            "`too_late` once it has gone to the warehouse, with what to tell the buyer."
        ),
        request=CancelRequestSerializer,
        responses={200: CancelRequestResultSerializer, 404: OrderErrorSerializer},
    )
    def post(self, request, pk):
        serializer = CancelRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = Order(pk=pk)
        try:
            # The service reads the order among this affiliate's own, then locks it.
            outcome = services.order_cancel_request(
                order=order,
                user=request.user,
                reason=serializer.validated_data["reason"],
                affiliate=request.user.affiliate,
            )
        except Order.DoesNotExist as exc:
            raise Http404 from exc
        return Response(
            {
                "outcome": outcome,
                "buyer_message": BUYER_MESSAGE_TOO_LATE if outcome == services.TOO_LATE else None,
                "order": _order_data(request, order.pk),
            }
        )


class OrderPayView(APIView):
    @extend_schema(
        operation_id="orders_pay",
        description="Charge an order that waits for payment with the default method on file.",
        request=None,
        responses={200: OrderSerializer, **ERRORS},
    )
    def post(self, request, pk):
        order = _own_order(request, pk)
        if not services.order_pay(order=order, user=request.user):
            order.refresh_from_db(fields=["status"])
            if order.status == Order.Status.AWAITING_PAYMENT:
                return error_response(
                    status_code=http.HTTP_402_PAYMENT_REQUIRED,
                    code="payment_declined",
                    message="The payment method on file was declined; the order still waits "
                    "for payment.",
                )
            # Cancelled while the charge was on its way: order_pay refunded it.
            return error_response(
                status_code=http.HTTP_409_CONFLICT,
                code=OrderStatusError.code,
                message=f"The order is {order.get_status_display().lower()}; it was not paid.",
            )
        return Response(_order_data(request, order.pk))


def _line_change(request, pk, service):
    order = _own_order(request, pk)
    serializer = OrderLineRefSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    line_id = serializer.validated_data["line"]
    service(order=order, line_id=line_id, user=request.user)
    return Response(_order_data(request, order.pk))


class OrderSpecialOrderView(APIView):
    @extend_schema(
        operation_id="orders_special_order",
        description=(
            "The buyer agreed to wait for a voided line: it stays open until stock appears, then "
            "its refund is reversed (charged again) and it ships."
        ),
        request=OrderLineRefSerializer,
        responses={200: OrderSerializer, **ERRORS},
    )
    def post(self, request, pk):
        return _line_change(request, pk, services.order_special_order_request)


class OrderSpecialOrderWithdrawView(APIView):
    @extend_schema(
        operation_id="orders_special_order_withdraw",
        description="Withdraw a special order: the line stays voided and refunded.",
        request=OrderLineRefSerializer,
        responses={200: OrderSerializer, **ERRORS},
    )
    def post(self, request, pk):
        return _line_change(request, pk, services.order_special_order_withdraw)
