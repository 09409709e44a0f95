from django.db.models import QuerySet

from affiliates.models import Affiliate, ApiKey, PaymentMethod


def payment_methods_for_affiliate(*, affiliate: Affiliate) -> QuerySet[PaymentMethod]:
    return affiliate.payment_methods.all()


def affiliate_has_valid_payment_method(*, affiliate: Affiliate) -> bool:
    return affiliate.payment_methods.valid().exists()


def affiliate_default_payment_method(*, affiliate: Affiliate) -> PaymentMethod | None:
    """The default method when it is valid; otherwise None (the order must wait for payment)."""
    return affiliate.payment_methods.valid().filter(is_default=True).first()


def api_keys_for_affiliate(*, affiliate: Affiliate) -> QuerySet[ApiKey]:
    return affiliate.api_keys.select_related("user")
