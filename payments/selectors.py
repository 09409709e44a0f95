from decimal import Decimal

from django.db.models import Case, DecimalField, F, Sum, Value, When

from payments.models import LedgerEntry


def ledger_balance(*, affiliate_id: int) -> Decimal:
    """What the affiliate has paid FBS, net: charges and reversals less refunds, voids, credits."""
    signed = Case(
        *[
            When(kind=kind, then=F("amount") * Value(direction))
            for kind, direction in LedgerEntry.DIRECTION.items()
        ],
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    total = LedgerEntry.objects.filter(affiliate_id=affiliate_id).aggregate(total=Sum(signed))
    return total["total"] or Decimal("0.00")
