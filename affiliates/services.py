"""Every change to affiliates, their users, payment methods on file and API keys."""

import hashlib
import re
from collections.abc import Iterable
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from affiliates.errors import AffiliateInvalidError, ExpiryInvalidError, MinStockInvalidError
from affiliates.models import (
    MIN_STOCK_FLOOR,
    Affiliate,
    ApiKey,
    Marketplace,
    PaymentMethod,
    User,
    api_key_hash,
)
from payments.gateways import get_gateway

# Writing last_used_at on every API call would turn every read into a write; once a minute is
# enough to tell a key in use from a forgotten one.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)

_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")


def parse_card_expiry(value: str) -> tuple[int, int]:
    """'MM/YY' or 'MM/YYYY' to (month, four-digit year)."""
    match = _EXPIRY.match(value or "")
    if not match:
        raise ExpiryInvalidError("Enter the expiry as MM/YY, for example 08/29.", field="expiry")
    month, year = int(match.group(1)), int(match.group(2))
    if year < 100:
        year += 2000
    if not 1 <= month <= 12:
        raise ExpiryInvalidError("The expiry month must be between 01 and 12.", field="expiry")
    return month, year


def _check_min_stock(min_stock) -> int:
    if isinstance(min_stock, bool) or not isinstance(min_stock, int):
        raise MinStockInvalidError("Min stock must be a whole number.", field="min_stock")
    if min_stock < MIN_STOCK_FLOOR:
        raise MinStockInvalidError(
            f"Min stock must be {MIN_STOCK_FLOOR} or more: items with fewer than "
            f"{MIN_STOCK_FLOOR} available are never listed.",
            field="min_stock",
        )
    return min_stock


def _check_marketplaces(marketplaces: Iterable[str]) -> list[str]:
    values = list(dict.fromkeys(marketplaces))
    unknown = [m for m in values if m not in Marketplace.values]
    if unknown:
        raise AffiliateInvalidError(
            f"Unknown marketplace: {', '.join(unknown)}.", field="marketplaces"
        )
    return values


@transaction.atomic
def affiliate_create(
    *,
    username: str,
    password: str,
    company: str,
    email: str,
    min_stock: int = MIN_STOCK_FLOOR,
    marketplaces: Iterable[str] = (),
) -> tuple[Affiliate, User]:
    """Create an affiliate account and its first user, or nothing at all."""
    min_stock = _check_min_stock(min_stock)
    marketplaces = _check_marketplaces(marketplaces)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise AffiliateInvalidError("Enter a valid contact email.", field="email") from exc
    if User.objects.filter(username__iexact=username).exists():
        raise AffiliateInvalidError(f"The username {username!r} is taken.", field="username")
    if Affiliate.objects.filter(name__iexact=company).exists():
        raise AffiliateInvalidError(f"An affiliate named {company!r} exists.", field="company")
    user = User(username=username, email=email)
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise AffiliateInvalidError(" ".join(exc.messages), field="password") from exc

    affiliate = Affiliate.objects.create(
        name=company, contact_email=email, min_stock=min_stock, marketplaces=marketplaces
    )
    user.affiliate = affiliate
    user.set_password(password)
    user.save()
    return affiliate, user


@transaction.atomic
def affiliate_update(
    *,
    affiliate: Affiliate,
    name: str,
    contact_email: str,
    min_stock: int,
    marketplaces: Iterable[str],
) -> Affiliate:
    min_stock = _check_min_stock(min_stock)
    marketplaces = _check_marketplaces(marketplaces)
    affiliate = Affiliate.objects.select_for_update(no_key=True).get(pk=affiliate.pk)
    affiliate.name = name
    affiliate.contact_email = contact_email
    affiliate.min_stock = min_stock
    affiliate.marketplaces = marketplaces
    affiliate.save(
        update_fields=["name", "contact_email", "min_stock", "marketplaces", "updated_at"]
    )
    return affiliate


def _lock_affiliate(affiliate: Affiliate) -> Affiliate:
    # Every change to an affiliate's set of payment methods takes this lock first, so two
    # requests cannot leave it with two defaults or none.
    return Affiliate.objects.select_for_update(no_key=True).get(pk=affiliate.pk)


def payment_method_add_card(
    *,
    affiliate: Affiliate,
    number: str,
    exp_month: int,
    exp_year: int,
    make_default: bool = False,
) -> PaymentMethod:
    """Verify a card with the gateway and keep its token. A card that is invalid, expired or
    declined raises and nothing is kept. The first method on file becomes the default."""
    digits = "".join(ch for ch in number if ch.isdigit())
    # The same card sent twice (a double click) is one gateway call and one method on file.
    fingerprint = hashlib.sha256(f"{digits}|{exp_month}|{exp_year}".encode()).hexdigest()[:32]
    stored = get_gateway().card_store(
        number=number,
        exp_month=exp_month,
        exp_year=exp_year,
        idempotency_key=f"card-store:{affiliate.pk}:{fingerprint}",
    )
    return _payment_method_keep(
        affiliate=affiliate,
        make_default=make_default,
        kind=PaymentMethod.Kind.CARD,
        gateway_token=stored.token,
        brand=stored.brand,
        last4=stored.last4,
        exp_month=stored.exp_month,
        exp_year=stored.exp_year,
    )


def payment_method_add_paypal(
    *, affiliate: Affiliate, email: str, make_default: bool = False
) -> PaymentMethod:
    try:
        validate_email(email)
    except ValidationError as exc:
        raise AffiliateInvalidError("Enter the PayPal account's email.", field="email") from exc
    stored = get_gateway().paypal_store(
        email=email, idempotency_key=f"paypal-store:{affiliate.pk}:{email.lower()}"
    )
    return _payment_method_keep(
        affiliate=affiliate,
        make_default=make_default,
        kind=PaymentMethod.Kind.PAYPAL,
        gateway_token=stored.token,
        paypal_email=email,
    )


def _payment_method_unset_default(affiliate: Affiliate, keep: PaymentMethod | None = None) -> None:
    # Row by row, not QuerySet.update(): the default method is in the audit log, which hears only
    # save(). There is at most one default (a unique constraint), so this is one row.
    defaults = affiliate.payment_methods.filter(is_default=True)
    if keep is not None:
        defaults = defaults.exclude(pk=keep.pk)
    for method in defaults:
        method.is_default = False
        method.save(update_fields=["is_default"])


@transaction.atomic
def _payment_method_keep(*, affiliate: Affiliate, make_default: bool, **fields) -> PaymentMethod:
    affiliate = _lock_affiliate(affiliate)
    existing = affiliate.payment_methods.filter(gateway_token=fields["gateway_token"]).first()
    if existing is not None:
        return existing
    has_default = affiliate.payment_methods.filter(is_default=True).exists()
    if make_default and has_default:
        _payment_method_unset_default(affiliate)
    return PaymentMethod.objects.create(
        affiliate=affiliate, is_default=make_default or not has_default, **fields
    )


@transaction.atomic
def payment_method_set_default(*, affiliate: Affiliate, payment_method_id: int) -> PaymentMethod:
    affiliate = _lock_affiliate(affiliate)
    method = affiliate.payment_methods.get(pk=payment_method_id)
    if not method.is_valid():
        raise AffiliateInvalidError(
            "An expired card cannot be the default.", field="payment_method"
        )
    _payment_method_unset_default(affiliate, keep=method)
    if not method.is_default:
        method.is_default = True
        method.save(update_fields=["is_default"])
    return method


@transaction.atomic
def payment_method_remove(*, affiliate: Affiliate, payment_method_id: int) -> None:
    """Remove a method from file. When it was the default, the newest valid one left takes over."""
    affiliate = _lock_affiliate(affiliate)
    method = affiliate.payment_methods.get(pk=payment_method_id)
    was_default = method.is_default
    method.delete()
    if was_default:
        successor = affiliate.payment_methods.valid().order_by("-created_at").first()
        if successor is not None:
            successor.is_default = True
            successor.save(update_fields=["is_default"])


def api_key_create(*, user: User, name: str) -> tuple[ApiKey, str]:
    """Make a key for the user's affiliate. The raw key is returned once and never kept."""
    if not user.is_affiliate_user:
        raise AffiliateInvalidError("Only an affiliate's user can have API keys.")
    name = (name or "").strip() or "API key"
    raw = ApiKey.generate()
    key = ApiKey.objects.create(
        affiliate_id=user.affiliate_id,
        user=user,
        name=name[:100],
        prefix=raw[:12],
        key_hash=api_key_hash(raw),
    )
    return key, raw


def api_key_revoke(*, affiliate: Affiliate, api_key_id: int) -> ApiKey:
    key = affiliate.api_keys.get(pk=api_key_id)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def api_key_use(raw_key: str) -> ApiKey | None:
    """The active key for this raw value, with its user and affiliate, or None."""
    key = (
        ApiKey.objects.select_related("user", "affiliate")
        .filter(key_hash=api_key_hash(raw_key), revoked_at__isnull=True)
        .first()
    )
    if key is None or not key.user.is_active or not key.affiliate.is_active:
        return None
    if key.user.affiliate_id == key.affiliate_id:
        # The same row, read once: request.user.affiliate needs no query of its own.
        key.user.affiliate = key.affiliate
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > API_KEY_TOUCH_INTERVAL:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
