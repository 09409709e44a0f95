"""A sandbox gateway that behaves like a real one, for development, demos and tests.

Test numbers (any future expiry):
- 4242 4242 4242 4242 and any other number that passes the Luhn check: verified, charges succeed;
- 4000 0000 0000 0002: always declined, at verification and at every charge;
- 4000 0000 0000 0341: verified and kept on file, but every charge is declined.
A number that fails the Luhn check is invalid; an expiry in the past is expired. Every call takes
an idempotency key: a repeat replays the first answer, a repeat with another request is refused.
"""

import hashlib
import json
import secrets
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from payments.errors import (
    CardDeclinedError,
    CardExpiredError,
    CardInvalidError,
    GatewayIdempotencyError,
    PaymentError,
)
from payments.gateways import GatewayResult, StoredInstrument
from payments.models import SandboxCall, SandboxInstrument

ALWAYS_DECLINES = "4000000000000002"
CHARGES_DECLINE = "4000000000000341"


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str:
    if digits.startswith("4"):
        return "Visa"
    if digits[:2] in {"34", "37"}:
        return "Amex"
    if 51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720:
        return "Mastercard"
    if digits.startswith(("6011", "65")):
        return "Discover"
    return "Card"


def normalise_card_number(number: str) -> str:
    digits = "".join(ch for ch in number if ch not in " -")
    if not digits.isdigit() or not 13 <= len(digits) <= 19 or not luhn_valid(digits):
        raise CardInvalidError("That card number is not valid.", field="number")
    return digits


def check_expiry(exp_month: int, exp_year: int) -> None:
    if not 1 <= exp_month <= 12:
        raise CardInvalidError("The expiry month must be between 01 and 12.", field="expiry")
    today = timezone.localdate()
    if (exp_year, exp_month) < (today.year, today.month):
        raise CardExpiredError("That card has expired.", field="expiry")


class SandboxGateway:
    def _replay_or_record(self, *, idempotency_key: str, operation: str, request: dict, run):
        """Answer a repeated key with its first answer; otherwise run the call and record it."""
        fingerprint = hashlib.sha256(
            json.dumps({"op": operation, **request}, sort_keys=True, default=str).encode()
        ).hexdigest()
        previous = SandboxCall.objects.filter(idempotency_key=idempotency_key).first()
        if previous is None:
            succeeded, reference, response = run()
            try:
                with transaction.atomic():
                    SandboxCall.objects.create(
                        idempotency_key=idempotency_key,
                        operation=operation,
                        fingerprint=fingerprint,
                        reference=reference,
                        succeeded=succeeded,
                        response=response,
                    )
                return response
            except IntegrityError:
                # Another process made the same call first: its answer is the answer.
                previous = SandboxCall.objects.get(idempotency_key=idempotency_key)
        if previous.fingerprint != fingerprint:
            raise GatewayIdempotencyError(
                "This idempotency key was already used for a different request."
            )
        return previous.response

    def card_store(
        self, *, number: str, exp_month: int, exp_year: int, idempotency_key: str
    ) -> StoredInstrument:
        digits = normalise_card_number(number)
        check_expiry(exp_month, exp_year)
        # The fingerprint covers the number's hash, never the number itself.
        request = {
            "number_sha": hashlib.sha256(digits.encode()).hexdigest(),
            "exp": f"{exp_month}/{exp_year}",
        }

        def run():
            if digits == ALWAYS_DECLINES:
                return False, "", {"declined": True, "message": "The card was declined."}
            token = "tok_sandbox_" + secrets.token_hex(12)
            SandboxInstrument.objects.create(
                token=token,
                kind="card",
                brand=card_brand(digits),
                last4=digits[-4:],
                exp_month=exp_month,
                exp_year=exp_year,
                declines_charges=digits == CHARGES_DECLINE,
            )
            return True, token, {"token": token}

        response = self._replay_or_record(
            idempotency_key=idempotency_key, operation="card_store", request=request, run=run
        )
        if response.get("declined"):
            raise CardDeclinedError("The card was declined by the bank.", field="number")
        instrument = SandboxInstrument.objects.get(token=response["token"])
        return StoredInstrument(
            token=instrument.token,
            brand=instrument.brand,
            last4=instrument.last4,
            exp_month=instrument.exp_month,
            exp_year=instrument.exp_year,
        )

    def paypal_store(self, *, email: str, idempotency_key: str) -> StoredInstrument:
        def run():
            token = "ba_sandbox_" + secrets.token_hex(12)
            SandboxInstrument.objects.create(token=token, kind="paypal")
            return True, token, {"token": token}

        response = self._replay_or_record(
            idempotency_key=idempotency_key,
            operation="paypal_store",
            request={"email": email.lower()},
            run=run,
        )
        return StoredInstrument(token=response["token"])

    def charge(
        self, *, token: str, amount: Decimal, idempotency_key: str, description: str = ""
    ) -> GatewayResult:
        amount = Decimal(amount)
        if amount <= 0:
            raise PaymentError("A charge must be for more than zero.")

        def run():
            instrument = SandboxInstrument.objects.filter(token=token).first()
            if instrument is None:
                return False, "", {"decline_code": "no_such_instrument"}
            if instrument.kind == "card":
                today = timezone.localdate()
                if (instrument.exp_year, instrument.exp_month) < (today.year, today.month):
                    return False, "", {"decline_code": "expired_card"}
                if instrument.declines_charges:
                    return False, "", {"decline_code": "card_declined"}
            reference = "ch_sandbox_" + secrets.token_hex(12)
            return True, reference, {"reference": reference, "amount": str(amount)}

        response = self._replay_or_record(
            idempotency_key=idempotency_key,
            operation="charge",
            request={"token": token, "amount": str(amount)},
            run=run,
        )
        if "decline_code" in response:
            return GatewayResult(
                succeeded=False,
                reference="",
                decline_code=response["decline_code"],
                message=DECLINE_MESSAGES.get(response["decline_code"], "The payment was declined."),
            )
        return GatewayResult(succeeded=True, reference=response["reference"])

    def refund(
        self, *, charge_reference: str, amount: Decimal, idempotency_key: str
    ) -> GatewayResult:
        amount = Decimal(amount)

        def run():
            # The charge and the refunds already made against it, in one query (each side has
            # its index: reference, and the refunds' charge).
            calls = SandboxCall.objects.filter(
                Q(operation="charge", reference=charge_reference)
                | Q(operation="refund", response__charge=charge_reference),
                succeeded=True,
            ).values_list("operation", "response")
            charged, already = None, Decimal(0)
            for operation, response in calls:
                if operation == "charge":
                    charged = Decimal(response["amount"])
                else:
                    already += Decimal(str(response["amount"]))
            if charged is None:
                return False, "", {"decline_code": "no_such_charge"}
            if already + amount > charged:
                return False, "", {"decline_code": "refund_exceeds_charge"}
            reference = "re_sandbox_" + secrets.token_hex(12)
            return (
                True,
                reference,
                {
                    "reference": reference,
                    "charge": charge_reference,
                    "amount": str(amount),
                },
            )

        response = self._replay_or_record(
            idempotency_key=idempotency_key,
            operation="refund",
            request={"charge": charge_reference, "amount": str(amount)},
            run=run,
        )
        if "decline_code" in response:
            return GatewayResult(
                succeeded=False, reference="", decline_code=response["decline_code"]
            )
        return GatewayResult(succeeded=True, reference=response["reference"])


DECLINE_MESSAGES = {
    "card_declined": "The card was declined by the bank.",
    "expired_card": "The card on file has expired.",
    "no_such_instrument": "The payment method on file is no longer available.",
}
