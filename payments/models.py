from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTransform

CENT = Decimal("0.01")


class LedgerEntry(models.Model):
    """One movement of money between an affiliate and FBS. Rows are only ever added.

    `amount` is always positive; `kind` says which way it goes. Every row carries a unique
    idempotency key made from what caused it (e.g. "order:42:charge"), so a retried task that
    records the same movement again finds the first row instead of writing a second.
    """

    class Kind(models.TextChoices):
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"
        VOID = "void", "Void refund"
        REVERSAL = "reversal", "Refund reversal"
        CREDIT = "credit", "Credit"

    # +1: the affiliate pays FBS; -1: FBS pays the affiliate back.
    DIRECTION = {
        Kind.CHARGE: 1,
        Kind.REFUND: -1,
        Kind.VOID: -1,
        Kind.REVERSAL: 1,
        Kind.CREDIT: -1,
    }

    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="ledger_entries"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(CENT)]
    )
    currency = models.CharField(max_length=3, default="USD")
    idempotency_key = models.CharField(max_length=200, unique=True)
    payment_method = models.ForeignKey(
        "affiliates.PaymentMethod",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ledger_entries",
    )
    # What the method was, kept even after the method is removed from file.
    payment_method_label = models.CharField(max_length=100, blank=True)
    gateway_reference = models.CharField(max_length=100, blank=True)
    memo = models.CharField(max_length=255, blank=True)
    order = models.ForeignKey(
        "orders.Order",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_amount_positive"),
        ]
        indexes = [models.Index(fields=["affiliate", "created_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount} {self.currency} ({self.idempotency_key})"

    @property
    def signed_amount(self) -> Decimal:
        return self.amount * self.DIRECTION[self.kind]


class SandboxInstrument(models.Model):
    """The sandbox gateway's own side: what a real gateway keeps behind a token. The full card
    number is not kept here either, only how the sandbox must behave for it."""

    token = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10)
    brand = models.CharField(max_length=20, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    declines_charges = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.token


class SandboxCall(models.Model):
    """Every call made to the sandbox gateway, by idempotency key: a repeated key replays the
    first answer, and the same key with a different request is refused, as real gateways do."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    operation = models.CharField(max_length=20)
    fingerprint = models.CharField(max_length=64)
    reference = models.CharField(max_length=100, db_index=True)
    succeeded = models.BooleanField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # A refund looks up the refunds already made against its charge: without this, a
            # scan of every call the sandbox ever answered.
            models.Index(
                KeyTransform("charge", "response"),
                condition=Q(operation="refund"),
                name="sandboxcall_refund_charge",
            ),
        ]

    def __str__(self):
        return f"{self.operation} {self.idempotency_key}"
