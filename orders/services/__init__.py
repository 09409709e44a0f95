"""Every change of an order. Each status move is one compare-and-set on the expected status (or a
row lock), with its timeline event and its ledger rows in the same transaction.

The cancel window is held by the database: `release_at` on the order and a beat sweep that claims
due orders with SELECT ... FOR UPDATE SKIP LOCKED. Cancel Request and the release are both
`UPDATE ... WHERE status = 'queued'`: exactly one of them can win.

One module per stage of an order; this package re-exports the service functions (and the
few names callers and tests use), so callers import from orders.services as before.
"""

from orders import events
from orders.locks import lock_order
from orders.services._common import (
    LineStatus,
    Status,
    _commit_stock,
    _enqueue_fulfillment,
    _move,
    _on_commit_enqueue,
    logger,
)
from orders.services.cancel import (
    CANCELLED,
    TOO_LATE,
    order_cancel_request,
)
from orders.services.fulfillment import (
    _fulfill,
    _items_take,
    _line_void,
    _lines_accept,
    _lines_decide,
    _lines_fulfill,
    _orders_settle_locked,
    _settle_and_write,
    _settle_locked,
    _update_from_values,
    order_fulfill,
    order_fulfill_batch,
    order_line_route,
    order_line_void,
    order_settle,
)
from orders.services.payment import (
    _refund,
    order_pay,
)
from orders.services.placement import (
    _ZIP,
    MAX_LINE_QTY,
    MAX_LINES,
    SHIP_TO_FIELDS,
    _check_lines,
    _check_ship_to,
    _idempotency_key_stored,
    _pay_if_method_on_file,
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
from orders.services.routing import (
    _ask,
    _candidates,
    _History,
    _placement_key,
    _record_answers,
    _route,
    _Routing,
    _sourcing_history,
)
from orders.services.shipping import (
    shipments_poll,
)
from orders.services.special_orders import (
    SPECIAL_ORDER_FROM,
    Compensation,
    _order_line,
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
    "_ZIP",
    "Compensation",
    "LineStatus",
    "Status",
    "_History",
    "_Routing",
    "_ask",
    "_candidates",
    "_check_lines",
    "_check_ship_to",
    "_commit_stock",
    "_enqueue_fulfillment",
    "_fulfill",
    "_idempotency_key_stored",
    "_items_take",
    "_line_void",
    "_lines_accept",
    "_lines_decide",
    "_lines_fulfill",
    "_lock_order",
    "_move",
    "_on_commit_enqueue",
    "_order_line",
    "_orders_settle_locked",
    "_pay_if_method_on_file",
    "_placement_key",
    "_record_answers",
    "_refund",
    "_route",
    "_settle_and_write",
    "_settle_locked",
    "_sourcing_history",
    "_update_from_values",
    "events",
    "get_gateway",
    "line_compensated_message",
    "line_compensation_release",
    "line_compensation_take",
    "logger",
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
