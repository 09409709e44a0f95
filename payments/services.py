from decimal import Decimal

from django.db import IntegrityError, transaction

from affiliates.models import Affiliate, PaymentMethod
from payments.errors import LedgerConflictError
from payments.models import CENT, LedgerEntry


def ledger_record(
    *,
    affiliate: Affiliate,
    kind: str,
    amount: Decimal,
    idempotency_key: str,
    payment_method: PaymentMethod | None = None,
    gateway_reference: str = "",
    memo: str = "",
    order=None,
) -> tuple[LedgerEntry, bool]:
    """Record one movement of money, once.

    Call it inside the transaction that makes the state change the money belongs to. A second call
    with the same key returns the first row and False; the same key for a different movement is a
    LedgerConflictError, never a second row.
    """
    amount = Decimal(amount).quantize(CENT)
    # The insert is tried first: a key is new almost every time, and the unique key is what
    # answers, so a first lookup would be a query spent for the rare repeat.
    try:
        with transaction.atomic():
            entry = LedgerEntry.objects.create(
                affiliate=affiliate,
                kind=kind,
                amount=amount,
                idempotency_key=idempotency_key,
                payment_method=payment_method,
                payment_method_label=payment_method.masked if payment_method else "",
                gateway_reference=gateway_reference,
                memo=memo,
                order=order,
            )
        return entry, True
    except IntegrityError:
        existing = LedgerEntry.objects.get(idempotency_key=idempotency_key)
    if (existing.affiliate_id, existing.kind, existing.amount) != (affiliate.pk, kind, amount):
        raise LedgerConflictError(
            f"Ledger key {idempotency_key!r} already records a different movement."
        )
    return existing, False
