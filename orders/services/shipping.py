"""Shipping: tracking from the warehouses; an order whose every filled line has shipped is
shipped.
"""

from django.db import transaction
from django.utils import timezone

from orders import events
from orders.connectors import get_connector
from orders.locks import (
    lock_order,
)
from orders.models import OrderLine
from orders.services._common import (
    LineStatus,
    Status,
    _move,
)
from orders.transitions import After, check_line_move, order_status_from_lines


def shipments_poll() -> int:
    """Ask warehouses for tracking of accepted lines; an order whose every filled line has
    shipped becomes shipped."""
    connector = get_connector()
    shipped = 0
    lines = OrderLine.objects.filter(status=LineStatus.FULFILLED).select_related(
        "warehouse", "order"
    )
    for line in lines.order_by("pk")[:1000]:
        tracking = connector.tracking(
            warehouse=line.warehouse,
            idempotency_key=f"line:{line.pk}:wh:{line.warehouse_id}:{line.reversal_attempts_done}",
        )
        if not tracking:
            continue
        with transaction.atomic():
            order = lock_order(line.order_id)
            check_line_move(LineStatus.FULFILLED, LineStatus.SHIPPED)
            if not OrderLine.objects.filter(pk=line.pk, status=LineStatus.FULFILLED).update(
                status=LineStatus.SHIPPED, tracking_number=tracking
            ):
                continue
            line.tracking_number = tracking
            events.line_shipped(line)
            shipped += 1
            target = order_status_from_lines(
                order.lines.values_list("status", flat=True), after=After.SHIPMENT
            )
            if target is not None and order.status in (Status.FULFILLED, Status.PARTIALLY_VOIDED):
                status_from = order.status
                _move(order, target, shipped_at=timezone.now())
                events.shipped(order, status_from=status_from)
    return shipped
