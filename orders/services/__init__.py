"""Every change of an order. Each status move is one compare-and-set on the expected status (or a
row lock), with its timeline event and its ledger rows in the same transaction.

The cancel window is held by the database: `release_at` on the order and a beat sweep that claims
due orders with SELECT ... FOR UPDATE SKIP LOCKED. Cancel Request and the release are both
`UPDATE ... WHERE status = 'queued'`: exactly one of them can win.

One module per stage of an order, in the order an order meets them:

    placement       order_place, order_place_once (checks, stock committed, charged at once)
    payment         order_pay, and the refunds every later stage sends
    cancel          order_cancel_request (the affiliate's Cancel Request)
    release         order_release_due, order_redispatch_stalled, and Support's restart and clear
    routing         asking the warehouses: the closest first, then every other one (second source)
    fulfillment     order_fulfill(_batch): each line accepted or voided, and the order settled
    special_orders  order_special_order_request/_withdraw, special_orders_restock, compensation
    shipping        shipments_poll

Shared helpers are in _common.py; every lock in orders/locks.py, every allowed status move in
orders/transitions.py. Callers import from orders.services, as before the split: this package
re-exports the service functions and the few names callers and tests use.
"""

from orders import events
from orders.locks import lock_order
from orders.services._common import _move
from orders.services.cancel import CANCELLED, TOO_LATE, order_cancel_request
from orders.services.fulfillment import (
    order_fulfill,
    order_fulfill_batch,
    order_line_route,
    order_line_void,
    order_settle,
)
from orders.services.payment import order_pay
from orders.services.placement import (
    MAX_LINE_QTY,
    MAX_LINES,
    SHIP_TO_FIELDS,
    order_place,
    order_place_once,
)
from orders.services.release import (
    RELEASE_BATCH,
    order_clear_needs_attention,
    order_fulfillment_restart,
    order_redispatch_stalled,
    order_release_due,
)
from orders.services.shipping import shipments_poll
from orders.services.special_orders import (
    SPECIAL_ORDER_FROM,
    line_compensated_message,
    line_compensation_release,
    line_compensation_take,
    order_special_order_request,
    order_special_order_withdraw,
    special_orders_restock,
)
from payments.gateways import get_gateway

# The order lock under its old name (tests take it to hold an order).
_lock_order = lock_order

__all__ = [
    "CANCELLED",
    "MAX_LINES",
    "MAX_LINE_QTY",
    "RELEASE_BATCH",
    "SHIP_TO_FIELDS",
    "SPECIAL_ORDER_FROM",
    "TOO_LATE",
    "_lock_order",
    "_move",
    "events",
    "get_gateway",
    "line_compensated_message",
    "line_compensation_release",
    "line_compensation_take",
    "order_cancel_request",
    "order_clear_needs_attention",
    "order_fulfill",
    "order_fulfill_batch",
    "order_fulfillment_restart",
    "order_line_route",
    "order_line_void",
    "order_pay",
    "order_place",
    "order_place_once",
    "order_redispatch_stalled",
    "order_release_due",
    "order_settle",
    "order_special_order_request",
    "order_special_order_withdraw",
    "shipments_poll",
    "special_orders_restock",
]
