import datetime
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# Items with fewer than 2 available are hidden from everyone, so a min stock below 2 means nothing.
MIN_STOCK_FLOOR = 2
# The largest value the column holds (PositiveSmallIntegerField, on every database we run on):
# forms and the API refuse more with a message instead of the database refusing it with a 500.
MIN_STOCK_MAX = 32767


class Marketplace(models.TextChoices):
    EBAY = "ebay", "eBay"
    AMAZON = "amazon", "Amazon"
    OWN_SITE = "own_site", "Own website"


class Affiliate(models.Model):
    """A reseller account. Its users see only its own orders, claims and catalog."""

    name = models.CharField("company name", max_length=200, unique=True)
    contact_email = models.EmailField()
    min_stock = models.PositiveSmallIntegerField(
        default=MIN_STOCK_FLOOR,
        validators=[MinValueValidator(MIN_STOCK_FLOOR)],
        help_text="Only items with at least this many available are listed for you (2 or more).",
    )
    marketplaces = models.JSONField(
        default=list, blank=True, help_text="The marketplaces this affiliate sells on."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_stock__gte=MIN_STOCK_FLOOR), name="affiliate_min_stock_at_least_2"
            ),
        ]

    def __str__(self):
        return self.name

    def get_marketplaces_display(self) -> str:
        labels = dict(Marketplace.choices)
        return ", ".join(labels.get(m, m) for m in self.marketplaces) or "—"


class User(AbstractUser):
    """A person who logs in. Affiliate users belong to one affiliate; staff belong to none."""

    affiliate = models.ForeignKey(
        Affiliate, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            # An affiliate's user can never be staff, so it can never open admin.
            models.CheckConstraint(
                condition=Q(affiliate__isnull=True) | Q(is_staff=False, is_superuser=False),
                name="affiliate_user_is_not_staff",
            ),
        ]

    @property
    def is_affiliate_user(self) -> bool:
        return self.affiliate_id is not None and self.is_active


class PaymentMethodQuerySet(models.QuerySet):
    def valid(self, on: datetime.date | None = None):
        """Present and not expired on `on` (today by default). A card is good to the end of its
        expiry month; a PayPal billing agreement has no expiry."""
        on = on or timezone.localdate()
        return self.filter(
            Q(kind=PaymentMethod.Kind.PAYPAL)
            | Q(exp_year__gt=on.year)
            | Q(exp_year=on.year, exp_month__gte=on.month)
        )

    def cards(self):
        return self.filter(kind=PaymentMethod.Kind.CARD)


class PaymentMethod(models.Model):
    """A way to pay kept on file. The card number itself never reaches us: only the gateway's
    token, the brand, the last four digits and the expiry."""

    class Kind(models.TextChoices):
        CARD = "card", "Card"
        PAYPAL = "paypal", "PayPal"

    affiliate = models.ForeignKey(
        Affiliate, on_delete=models.CASCADE, related_name="payment_methods"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    brand = models.CharField(max_length=20, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    paypal_email = models.EmailField(blank=True)
    gateway_token = models.CharField(max_length=100, unique=True, editable=False)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PaymentMethodQuerySet.as_manager()

    class Meta:
        ordering = ["-is_default", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["affiliate"],
                condition=Q(is_default=True),
                name="one_default_payment_method_per_affiliate",
            ),
            models.CheckConstraint(
                condition=Q(kind="paypal")
                | Q(exp_month__gte=1, exp_month__lte=12, exp_year__isnull=False),
                name="card_has_expiry",
            ),
        ]

    def __str__(self):
        return self.masked

    @property
    def masked(self) -> str:
        if self.kind == self.Kind.PAYPAL:
            return f"PayPal ({self.paypal_email})"
        expiry = f"{self.exp_month:02d}/{self.exp_year % 100:02d}"
        return f"{self.brand} •••• {self.last4}, expires {expiry}"

    def is_valid(self, on: datetime.date | None = None) -> bool:
        if self.kind == self.Kind.PAYPAL:
            return True
        on = on or timezone.localdate()
        return (self.exp_year, self.exp_month) >= (on.year, on.month)


API_KEY_PREFIX = "fbs_"


def api_key_hash(raw_key: str) -> str:
    # The key is 256 random bits, so one round of SHA-256 is enough to make a leaked table useless;
    # a slow password hash would only slow every API call.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """A per-affiliate API key. Only its hash is stored; the key is shown once, at creation."""

    affiliate = models.ForeignKey(Affiliate, on_delete=models.CASCADE, related_name="api_keys")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    # The first characters of the key, to tell keys apart on screen; not secret on their own.
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate() -> str:
        return API_KEY_PREFIX + secrets.token_urlsafe(32)
