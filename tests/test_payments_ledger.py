from decimal import Decimal

import pytest

from payments.errors import GatewayIdempotencyError, LedgerConflictError
from payments.gateways.sandbox import SandboxGateway
from payments.models import LedgerEntry
from payments.selectors import ledger_balance
from payments.services import ledger_record
from tests.factories import AffiliateFactory, CardFactory

pytestmark = pytest.mark.django_db


def test_ledger_record_same_key_twice_is_one_row():
    affiliate = AffiliateFactory()

    first, created = ledger_record(
        affiliate=affiliate,
        kind="charge",
        amount=Decimal("10.00"),
        idempotency_key="order:1:charge",
    )
    again, created_again = ledger_record(
        affiliate=affiliate, kind="charge", amount=Decimal("10"), idempotency_key="order:1:charge"
    )

    assert (created, created_again) == (True, False)
    assert first.pk == again.pk
    assert LedgerEntry.objects.count() == 1


def test_ledger_record_same_key_for_a_different_movement_is_refused():
    affiliate = AffiliateFactory()
    ledger_record(affiliate=affiliate, kind="charge", amount=Decimal("10.00"), idempotency_key="k")

    with pytest.raises(LedgerConflictError):
        ledger_record(
            affiliate=affiliate, kind="refund", amount=Decimal("10.00"), idempotency_key="k"
        )

    assert LedgerEntry.objects.count() == 1


def test_ledger_balance_signs_each_kind():
    affiliate = AffiliateFactory()
    for key, kind, amount in [
        ("a", "charge", "100.00"),
        ("b", "refund", "30.00"),
        ("c", "void", "20.00"),
        ("d", "reversal", "20.00"),
        ("e", "credit", "5.25"),
    ]:
        ledger_record(affiliate=affiliate, kind=kind, amount=Decimal(amount), idempotency_key=key)

    assert ledger_balance(affiliate_id=affiliate.pk) == Decimal("64.75")
    assert isinstance(ledger_balance(affiliate_id=AffiliateFactory().pk), Decimal)


def test_sandbox_gateway_same_key_different_request_is_refused():
    card = CardFactory()
    gateway = SandboxGateway()
    gateway.charge(token=card.gateway_token, amount=Decimal("5.00"), idempotency_key="c")

    with pytest.raises(GatewayIdempotencyError):
        gateway.charge(token=card.gateway_token, amount=Decimal("6.00"), idempotency_key="c")


def test_sandbox_gateway_refund_at_most_the_charge():
    card = CardFactory()
    gateway = SandboxGateway()
    charge = gateway.charge(token=card.gateway_token, amount=Decimal("5.00"), idempotency_key="c")

    part = gateway.refund(
        charge_reference=charge.reference, amount=Decimal("3.00"), idempotency_key="r1"
    )
    too_much = gateway.refund(
        charge_reference=charge.reference, amount=Decimal("2.01"), idempotency_key="r2"
    )
    rest = gateway.refund(
        charge_reference=charge.reference, amount=Decimal("2.00"), idempotency_key="r3"
    )

    assert part.succeeded
    assert rest.succeeded
    assert not too_much.succeeded
    assert too_much.decline_code == "refund_exceeds_charge"


def test_sandbox_gateway_expired_card_on_file_is_declined_at_charge():
    card = CardFactory(exp_month=1, exp_year=2020)

    result = SandboxGateway().charge(
        token=card.gateway_token, amount=Decimal("5.00"), idempotency_key="c"
    )

    assert not result.succeeded
    assert result.decline_code == "expired_card"
