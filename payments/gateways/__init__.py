"""The payment gateway interface. The gateway in use is named by FBS_PAYMENT_GATEWAY."""

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class StoredInstrument:
    """What the gateway gives back for a card or PayPal agreement it now keeps for us."""

    token: str
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True)
class GatewayResult:
    succeeded: bool
    reference: str
    message: str = ""
    decline_code: str = ""


class PaymentGateway(Protocol):
    def card_store(
        self, *, number: str, exp_month: int, exp_year: int, idempotency_key: str
    ) -> StoredInstrument:
        """Check and verify a card and keep it; raises CardInvalidError, CardExpiredError or
        CardDeclinedError. The number goes no further than this call."""

    def paypal_store(self, *, email: str, idempotency_key: str) -> StoredInstrument:
        """Set up a PayPal billing agreement."""

    def charge(
        self, *, token: str, amount: Decimal, idempotency_key: str, description: str = ""
    ) -> GatewayResult:
        """Take `amount` from the instrument behind `token`. A decline is a result, not an error."""

    def refund(
        self, *, charge_reference: str, amount: Decimal, idempotency_key: str
    ) -> GatewayResult:
        """Give back up to the charged amount of an earlier charge."""


@cache
def _gateway_class(path: str):
    return import_string(path)


def get_gateway() -> PaymentGateway:
    return _gateway_class(settings.FBS_PAYMENT_GATEWAY)()
