"""Every status move an order and an order line may make, and what an order's lines make it.

The services in orders/services/ check each move against these tables before they make it (a
move not listed raises OrderStatusError); tests/test_orders_transitions.py walks them.
"""

from enum import Enum

from orders.errors import OrderStatusError
from orders.models import Order, OrderLine

Status = Order.Status
LineStatus = OrderLine.Status

# The whole life of an order: from each status, the statuses it may move to.
ORDER_TRANSITIONS = {
    # placement creates an order awaiting payment; paid, it enters the queue
    Status.AWAITING_PAYMENT: {Status.QUEUED, Status.CANCELLED},
    # Cancel Request and the release sweep race for it: one compare-and-set wins
    Status.QUEUED: {Status.PROCESSING, Status.CANCELLED},
    Status.PROCESSING: {
        Status.FULFILLED,
        Status.PARTIALLY_VOIDED,
        Status.VOIDED,
        # a restocked special-order line filled while another one still waits
        Status.SPECIAL_ORDER,
    },
    Status.FULFILLED: {Status.SHIPPED},
    Status.PARTIALLY_VOIDED: {Status.SPECIAL_ORDER, Status.SHIPPED},
    Status.VOIDED: {Status.SPECIAL_ORDER},
    # Back to processing when stock appears and the refund is reversed; withdrawn, it goes
    # back to what its other lines are (cancelled when nothing else was ever filled).
    Status.SPECIAL_ORDER: {
        Status.PROCESSING,
        Status.CANCELLED,
        Status.VOIDED,
        Status.PARTIALLY_VOIDED,
        Status.SHIPPED,
    },
    Status.CANCELLED: set(),
    # A buyer may agree to wait for a voided line after the rest of the order has shipped.
    Status.SHIPPED: {Status.SPECIAL_ORDER},
}

# The whole life of a line. Placement creates it open (its stock committed).
LINE_TRANSITIONS = {
    # a warehouse accepted it / nobody could fill it / its order was cancelled in the queue
    LineStatus.OPEN: {LineStatus.FULFILLED, LineStatus.VOIDED, LineStatus.CANCELLED},
    LineStatus.FULFILLED: {LineStatus.SHIPPED},
    # the buyer agreed to wait for it
    LineStatus.VOIDED: {LineStatus.SPECIAL_ORDER},
    # stock appeared and the refund was reversed / the affiliate withdrew it
    LineStatus.SPECIAL_ORDER: {LineStatus.OPEN, LineStatus.VOIDED},
    LineStatus.CANCELLED: set(),
    LineStatus.SHIPPED: set(),
}


def order_can_move(source: str, target: str) -> bool:
    return target in ORDER_TRANSITIONS.get(source, set())


def line_can_move(source: str, target: str) -> bool:
    return target in LINE_TRANSITIONS.get(source, set())


def check_order_move(source: str, target: str) -> None:
    if not order_can_move(source, target):
        raise OrderStatusError(
            f"An order that is {Status(source).label.lower()} cannot become "
            f"{Status(target).label.lower()}."
        )


def check_line_move(source: str, target: str) -> None:
    if not line_can_move(source, target):
        raise OrderStatusError(
            f"A line that is {LineStatus(source).label.lower()} cannot become "
            f"{LineStatus(target).label.lower()}."
        )


class After(Enum):
    """What just happened to an order's lines, which decides how their statuses read."""

    # Every line was sent to the warehouses (processing orders settle).
    SOURCING = "sourcing"
    # A special order was withdrawn: the order goes back to what its other lines are.
    SPECIAL_ORDER_WITHDRAWN = "special_order_withdrawn"
    # A warehouse reported tracking for a line.
    SHIPMENT = "shipment"


_FILLED = {LineStatus.FULFILLED, LineStatus.SHIPPED}
_UNFILLED = {LineStatus.VOIDED, LineStatus.SPECIAL_ORDER}
_DONE_SHIPPING = {LineStatus.SHIPPED, LineStatus.VOIDED, LineStatus.CANCELLED}


def order_status_from_lines(statuses, *, after: After) -> str | None:
    """What an order becomes from its lines' statuses; None: it stays as it is.

    - After sourcing: nothing while a line is open; a special order waiting keeps the order one;
      else fulfilled, partially voided or voided by what was filled.
    - After a special order is withdrawn: still a special order while another waits; else
      partially voided when a line is at a warehouse, shipped when one has shipped, and cancelled
      when nothing was ever filled.
    - After a shipment: shipped once every filled line has shipped.
    """
    statuses = set(statuses)
    if after is After.SHIPMENT:
        return Status.SHIPPED if statuses <= _DONE_SHIPPING else None
    if after is After.SPECIAL_ORDER_WITHDRAWN:
        if LineStatus.SPECIAL_ORDER in statuses:
            return Status.SPECIAL_ORDER
        if LineStatus.FULFILLED in statuses:
            return Status.PARTIALLY_VOIDED
        if LineStatus.SHIPPED in statuses:
            return Status.SHIPPED
        return Status.CANCELLED
    if LineStatus.OPEN in statuses:
        return None
    if LineStatus.SPECIAL_ORDER in statuses:
        return Status.SPECIAL_ORDER
    filled, unfilled = statuses & _FILLED, statuses & _UNFILLED
    if filled and unfilled:
        return Status.PARTIALLY_VOIDED
    if filled:
        return Status.FULFILLED
    return Status.VOIDED
