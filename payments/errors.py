from sophio_fbs.errors import DomainError


class PaymentError(DomainError):
    code = "payment_error"


class CardInvalidError(PaymentError):
    code = "card_invalid"


class CardExpiredError(PaymentError):
    code = "card_expired"


class CardDeclinedError(PaymentError):
    code = "card_declined"
    status_code = 402


class GatewayIdempotencyError(PaymentError):
    """The same idempotency key was sent with a different request."""

    code = "idempotency_conflict"
    status_code = 409


class LedgerConflictError(DomainError):
    """A ledger row with this idempotency key exists and records a different movement."""

    code = "ledger_conflict"
    status_code = 409
