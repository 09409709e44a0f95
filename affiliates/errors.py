from sophio_fbs.errors import DomainError


class AffiliateInvalidError(DomainError):
    code = "affiliate_invalid"


class MinStockInvalidError(DomainError):
    code = "min_stock_invalid"


class PaymentMethodNotFoundError(DomainError):
    code = "not_found"
    status_code = 404


class ExpiryInvalidError(DomainError):
    code = "expiry_invalid"
