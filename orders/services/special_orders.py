"""Special orders (a voided line kept open until stock appears, then charged again and
shipped), and the one compensation a voided line may have: a special order or a claim.
"""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from affiliates.selectors import affiliate_default_payment_method
from orders import emails, events
from orders.errors import (
    LineCompensatedError,
    OrderLineUnknownError,
    OrderStatusError,
)
from orders.locks import (
    lock_items,
    lock_line,
    lock_order,
)
from orders.models import Order, OrderLine
from orders.services._common import (
    LineStatus,
    Status,
    _commit_stock,
    _enqueue_fulfillment,
    _move,
)
from orders.transitions import After, check_line_move, order_status_from_lines
from payments.gateways import get_gateway
from payments.models import LedgerEntry
from payments.services import ledger_record

SPECIAL_ORDER_FROM = (
    Status.VOIDED,
    Status.PARTIALLY_VOIDED,
    Status.SPECIAL_ORDER,
    Status.SHIPPED,
)


def _order_line(order: Order, line_id) -> OrderLine:
    try:
        return order.lines.get(pk=line_id)
    except (OrderLine.DoesNotExist, ValueError, TypeError):
        raise OrderLineUnknownError(
            f"{order.number} has no line {line_id}.", field="line"
        ) from None


Compensation = OrderLine.Compensation


def line_compensated_message(line: OrderLine, *, wanted: str) -> str:
    """Why a line that is already compensated cannot be compensated again, for every face."""
    if line.compensation == Compensation.SPECIAL_ORDER:
        if wanted == Compensation.SPECIAL_ORDER:
            return f"{line.line_code} {line.part_number} is already a special order."
        return (
            f"{line.line_code} {line.part_number} is a special order: FBS reverses its refund "
            "and ships it when stock appears, so it cannot also be claimed. If you bought the "
            "part elsewhere, withdraw the special order first."
        )
    claim = line.claims.order_by("-pk").first()  # the live claim is the newest: one at a time
    number = f" {claim}" if claim is not None else ""
    return (
        f"{line.line_code} {line.part_number} is already compensated by claim{number} (the part "
        "bought elsewhere), so it cannot also become a special order."
        if wanted == Compensation.SPECIAL_ORDER
        else f"{line.line_code} {line.part_number} already has claim{number}."
    )


def line_compensation_take(*, line: OrderLine, kind: str) -> None:
    """Record that `kind` makes this voided line good, inside the caller's transaction (which
    holds the line's row lock). A compare-and-set from "": of two requests at the same moment,
    the second waits for the first's row lock, then finds the column set and is refused."""
    taken = OrderLine.objects.filter(pk=line.pk, compensation=Compensation.NONE).update(
        compensation=kind
    )
    if not taken:
        line.refresh_from_db(fields=["compensation"])
        raise LineCompensatedError(line_compensated_message(line, wanted=kind), field="line")
    line.compensation = kind


def line_compensation_release(*, line_id: int, kind: str) -> None:
    """The compensation `kind` ended without making the line good (a claim denied): the line may
    be compensated again. Releases only what `kind` holds."""
    OrderLine.objects.filter(pk=line_id, compensation=kind).update(compensation=Compensation.NONE)


def order_special_order_request(*, order: Order, line_id: int, user=None) -> OrderLine:
    """The buyer agreed to wait: keep a voided line open until stock appears. Refused when the
    line is compensated already (a claim for it is in review, approved or paid)."""
    with transaction.atomic():
        order = lock_order(order.pk)
        line_pk = _order_line(order, line_id).pk
        # Locked, then read: a claim filed meanwhile (it locks the line) is seen here.
        line = lock_line(line_pk)
        if line.compensation:
            raise LineCompensatedError(
                line_compensated_message(line, wanted=Compensation.SPECIAL_ORDER), field="line"
            )
        if line.status != LineStatus.VOIDED:
            raise OrderStatusError("Only a line FBS voided can become a special order.")
        if order.status not in SPECIAL_ORDER_FROM:
            # Its other lines are still being sourced: ask again once the order is settled.
            raise OrderStatusError("Wait until every line of the order has been sourced.")
        line_compensation_take(line=line, kind=Compensation.SPECIAL_ORDER)
        status_from = order.status
        if order.status != Status.SPECIAL_ORDER:
            _move(order, Status.SPECIAL_ORDER)
        check_line_move(LineStatus.VOIDED, LineStatus.SPECIAL_ORDER)
        OrderLine.objects.filter(pk=line.pk, status=LineStatus.VOIDED).update(
            status=LineStatus.SPECIAL_ORDER
        )
        line.status = LineStatus.SPECIAL_ORDER
        line.order = order
        events.special_order_requested(line, user=user, status_from=status_from)
    return line


def order_special_order_withdraw(*, order: Order, line_id: int, user=None) -> OrderLine:
    with transaction.atomic():
        order = lock_order(order.pk)
        line = _order_line(order, line_id)
        if line.status != LineStatus.SPECIAL_ORDER:
            raise OrderStatusError("This line is not an open special order.")
        # Withdrawn before it shipped: the line is voided and refunded, free to be claimed.
        check_line_move(line.status, LineStatus.VOIDED)
        OrderLine.objects.filter(pk=line.pk).update(
            status=LineStatus.VOIDED, compensation=Compensation.NONE
        )
        line.status, line.compensation = LineStatus.VOIDED, Compensation.NONE
        status_from = order.status
        target = order_status_from_lines(
            order.lines.values_list("status", flat=True), after=After.SPECIAL_ORDER_WITHDRAWN
        )
        if target != order.status:
            _move(order, target)
        events.special_order_withdrawn(line, user=user, status_from=status_from)
    return line


def special_orders_restock() -> list[int]:
    """Special-order lines whose item has stock again: reverse the refund (charge again) and send
    them to fulfillment. A failed charge leaves the line open and tells the affiliate."""
    restarted = []
    lines = (
        OrderLine.objects.filter(status=LineStatus.SPECIAL_ORDER, item__available_qty__gte=F("qty"))
        .select_related("order__affiliate", "order__payment_method")
        .order_by("pk")
    )
    for line in lines:
        method = _reversal_method(line.order)
        cycle = line.reversal_attempts_done
        charged = _reversal_charge(line, method, cycle)
        with transaction.atomic():
            if _reversal_record(line.order.pk, line.pk, method, cycle, charged):
                restarted.append(line.pk)
    return restarted


def _reversal_method(order: Order):
    """The order's own payment method while it is valid, else the affiliate's default."""
    method = order.payment_method
    if method is None or not method.is_valid():
        method = affiliate_default_payment_method(affiliate=order.affiliate)
    return method


def _reversal_charge(line: OrderLine, method, cycle: int) -> tuple[bool, str, str]:
    """Charge the line again, outside any transaction: (succeeded, message, reference)."""
    if method is None:
        return False, "no valid payment method on file", ""
    result = get_gateway().charge(
        token=method.gateway_token,
        amount=line.line_total,
        idempotency_key=f"line:{line.pk}:reversal:{cycle}:{line.reversal_attempts}",
    )
    return result.succeeded, result.message, result.reference


def _reversal_record(order_id: int, line_id: int, method, cycle: int, charged) -> bool:
    """Inside the caller's transaction: record the reversal charge's answer and, when it went
    through and the stock is still there, reopen the line for fulfillment. True: reopened."""
    result_ok, message, reference = charged
    order = lock_order(order_id)
    line = lock_line(line_id, order=order)
    if line.status != LineStatus.SPECIAL_ORDER:
        return False
    if not result_ok:
        OrderLine.objects.filter(pk=line.pk).update(reversal_attempts=F("reversal_attempts") + 1)
        events.reversal_failed(line, message=message)
        emails.reversal_failed(order, line, message=message)
        return False
    items = lock_items([line.item_id])
    ledger_record(
        affiliate=order.affiliate,
        kind=LedgerEntry.Kind.REVERSAL,
        amount=line.line_total,
        idempotency_key=f"order:{order.pk}:line:{line.pk}:reversal:{cycle}",
        payment_method=method,
        gateway_reference=reference,
        memo=order.number,
        order=order,
    )
    if items[line.item_id].available_qty < line.qty:
        # Sold out again while we charged: keep the money moved only once and retry the
        # line the next time stock appears. (The ledger row stands for the next cycle.)
        return False
    _reopen_line(order, line, reference)
    return True


def _reopen_line(order: Order, line: OrderLine, reference: str) -> None:
    """The reversal went through: the line is open again with its stock committed, and the
    order goes back to processing, handed to fulfillment after commit."""
    _commit_stock({line.item_id: line.qty}, +1)
    check_line_move(line.status, LineStatus.OPEN)
    OrderLine.objects.filter(pk=line.pk).update(
        status=LineStatus.OPEN,
        committed=True,
        reversal_attempts_done=F("reversal_attempts_done") + 1,
        charge_reference=reference,
    )
    status_from = order.status
    if order.status != Status.PROCESSING:
        _move(
            order,
            Status.PROCESSING,
            processing_started_at=timezone.now(),
            fulfillment_runs=order.fulfillment_runs + 1,
        )
    events.reversal(line, amount=line.line_total, status_from=status_from)
    _enqueue_fulfillment([order.pk])
