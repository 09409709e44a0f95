from orders.errors import LineCompensatedError
from sophio_fbs.errors import DomainError, NotAllowedError


class ClaimRefusedError(DomainError):
    """The claim was not filed; `field` says what to fix. Nothing was kept."""

    code = "claim_refused"


class ReceiptRefusedError(ClaimRefusedError):
    """The receipt file is not one we keep. Nothing was stored."""

    code = "receipt_refused"

    def __init__(self, message: str, *, field: str | None = "receipt", code: str | None = None):
        super().__init__(message, field=field, code=code)


class ClaimLineNotClaimableError(ClaimRefusedError):
    """Only a line FBS voided can be claimed."""

    code = "line_not_claimable"


class ClaimExistsError(LineCompensatedError):
    """The line already has a claim in review, approved or paid: it is compensated by it."""

    code = "claim_exists"


class ClaimStatusError(NotAllowedError):
    """The move is not allowed from the claim's status, e.g. it was decided meanwhile."""

    code = "claim_status"


class ClaimDecisionError(DomainError):
    """A reviewer's decision that is not valid as given (amount, missing reason)."""

    code = "claim_decision"


class ClaimPayoutChangedError(NotAllowedError):
    """A claim of the payout confirmation changed between showing it and confirming it."""

    code = "payout_changed"
