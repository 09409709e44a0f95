"""Paying an order that waits for payment, and sending money back."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from affiliates.models import PaymentMethod
from affiliates.selectors import affiliate_default_payment_method
from orders import events
from orders.errors import (
    OrderStatusError,
    PaymentMethodMissingError,
)
from orders.locks import (
    lock_order,
)
from orders.models import Order
from orders.services._common import (
    Status,
    _move,
)
from payments.gateways import get_gateway
from payments.models import LedgerEntry
from payments.services import ledger_record


def order_pay(*, order: Order, user=None, payment_method: PaymentMethod | None = None) -> bool:
    """Charge an order that waits for payment; True when it is now paid and queued.

    A decline leaves it waiting (the next try uses a new gateway key). A charge that lands after
    the order was cancelled is refunded at once.
    """
    method = _payable_with(order, payment_method)
    # Stable per attempt: a retry after a crash replays the same answer, a retry after a
    # decline (attempts + 1) is a new charge.
    gateway_key = f"order:{order.pk}:charge:{order.payment_attempts}"
    result = get_gateway().charge(
        token=method.gateway_token,
        amount=order.total,
        idempotency_key=gateway_key,
        description=f"{order.number} ({order.marketplace_order_id})",
    )
    with transaction.atomic():
        order = lock_order(order.pk)
        if not result.succeeded:
            if order.status == Status.AWAITING_PAYMENT:
                Order.objects.filter(pk=order.pk).update(payment_attempts=F("payment_attempts") + 1)
                events.payment_declined(order, user=user, message=result.message)
            return False
        ledger_record(
            affiliate=order.affiliate,
            kind=LedgerEntry.Kind.CHARGE,
            amount=order.total,
            idempotency_key=f"order:{order.pk}:charge",
            payment_method=method,
            gateway_reference=result.reference,
            memo=order.number,
            order=order,
        )
        if order.status != Status.AWAITING_PAYMENT:
            # Cancelled (or paid by another request) while the charge was in flight.
            if order.charge_reference != result.reference:
                _refund(
                    order,
                    amount=order.total,
                    key=f"order:{order.pk}:late-charge-refund",
                    reference=result.reference,
                    kind=LedgerEntry.Kind.REFUND,
                )
            return order.status == Status.QUEUED
        now = timezone.now()
        status_from = order.status
        _move(
            order,
            Status.QUEUED,
            paid_at=now,
            release_at=now + timedelta(seconds=settings.FBS_CANCEL_WINDOW_SECONDS),
            payment_method=method,
            charge_reference=result.reference,
        )
        events.paid(order, user=user, method_label=method.masked, status_from=status_from)
    return True


def _payable_with(order: Order, payment_method: PaymentMethod | None) -> PaymentMethod:
    """The method to charge the order with; refused unless it waits for payment, has something
    to charge and a valid method is given or on file."""
    if order.status != Status.AWAITING_PAYMENT:
        raise OrderStatusError("Only an order that is awaiting payment can be paid.")
    if order.total <= 0:
        raise OrderStatusError("This order has nothing to charge.")
    method = payment_method or affiliate_default_payment_method(affiliate=order.affiliate)
    if method is None or not method.is_valid():
        raise PaymentMethodMissingError(
            "No valid payment method on file: add a card or PayPal on the Settings page."
        )
    return method


def _refund(
    order: Order,
    *,
    amount: Decimal,
    key: str,
    kind: str,
    reference: str = "",
    line=None,
    timeline: list | None = None,
):
    """Send money back through the gateway and the ledger, once per key. Its events are written
    at once, or, given a timeline, added to it for the caller to write with its own."""
    save = timeline is None
    built = []
    result = get_gateway().refund(
        charge_reference=reference or order.charge_reference, amount=amount, idempotency_key=key
    )
    if not result.succeeded:
        # The ledger records what FBS owes; Support settles a gateway that refuses by hand.
        Order.objects.filter(pk=order.pk).update(needs_attention=True)
        built.append(
            events.flagged(order, reason=f"the gateway refused a refund of ${amount}", save=save)
        )
    _, created = ledger_record(
        affiliate=order.affiliate,
        kind=kind,
        amount=amount,
        idempotency_key=key,
        payment_method=order.payment_method,
        gateway_reference=result.reference,
        memo=order.number,
        order=order,
    )
    if created:
        built.append(
            events.refunded(
                order,
                amount=amount,
                kind="Refund" if kind == "refund" else "Void refund",
                line=line,
                save=save,
            )
        )
    if timeline is not None:
        timeline.extend(built)
