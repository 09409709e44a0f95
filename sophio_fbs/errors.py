"""The one root of every business-rule error.

Services raise a subclass; pages turn it into a form or message error, the API into a JSON error
with `code`, and management commands into a CommandError. No caller decides the rule again.
"""


class DomainError(Exception):
    """A request the business rules refuse. `code` is stable; `message` is for people."""

    code = "invalid"
    # The HTTP status the API answers with.
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class NotAllowedError(DomainError):
    code = "not_allowed"
    status_code = 409
