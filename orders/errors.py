from sophio_fbs.errors import DomainError, NotAllowedError


class OrderRefusedError(DomainError):
    """Nothing of the order was kept. `problems` says why, line by line where it can."""

    code = "order_refused"

    def __init__(self, message: str, *, problems: list[dict] | None = None, field=None):
        super().__init__(message, field=field)
        self.problems = problems or []


class OrderStatusError(NotAllowedError):
    code = "order_status"


class PaymentMethodMissingError(DomainError):
    code = "no_payment_method"
    status_code = 402


class IdempotencyKeyReusedError(DomainError):
    code = "idempotency_key_reused"
    status_code = 422


class OrderLineUnknownError(DomainError):
    code = "line_unknown"


class LineCompensatedError(NotAllowedError):
    """The voided line is already made good, by a special order or by a claim: FBS compensates
    a line once."""

    code = "line_compensated"
