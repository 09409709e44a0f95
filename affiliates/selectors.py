from django.db.models import QuerySet

from affiliates.models import Affiliate, ApiKey, PaymentMethod


def payment_methods_for_affiliate(*, affiliate: Affiliate) -> QuerySet[PaymentMethod]:
    return affiliate.payment_methods.all()


def affiliate_has_valid_payment_method(*, affiliate: Affiliate) -> bool:
    return affiliate.payment_methods.valid().exists()


def affiliate_default_payment_method(*, affiliate: Affiliate) -> PaymentMethod | None:
    """The method orders are charged to: the default when it is valid, else the newest valid
    method on file (an expired default must not leave orders waiting while a good card is
    there); None when nothing valid is on file."""
    return affiliate.payment_methods.valid().order_by("-is_default", "-created_at").first()


def api_keys_for_affiliate(*, affiliate: Affiliate) -> QuerySet[ApiKey]:
    return affiliate.api_keys.select_related("user")
