import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

CENT = Decimal("0.01")


def receipt_upload_to(instance, filename: str) -> str:
    """A name we make: receipts/<yyyy>/<mm>/<uuid>.<ext>. Nothing the affiliate typed reaches the
    file system; the extension is the one of the type found in the content (receipts.py)."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    now = timezone.now()
    return f"receipts/{now:%Y}/{now:%m}/{uuid.uuid4().hex}.{ext}"


class Claim(models.Model):
    """A claim for the cost of buying a voided line's part from another supplier.

    Its status changes only through claims.services, each change a compare-and-set on the expected
    status under a row lock. The eligibility reasons are decided and stored at filing.
    """

    class Status(models.TextChoices):
        IN_REVIEW = "in_review", "In review"
        NEEDS_INFO = "needs_info", "Needs information"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        PAID = "paid", "Paid"

    # The whole life of a claim: from each status, the statuses it may move to. Filing creates it
    # approved (every condition met) or in review.
    TRANSITIONS = {
        Status.IN_REVIEW: {Status.NEEDS_INFO, Status.APPROVED, Status.DENIED},
        # The affiliate's answer sends it back to review; a reviewer may also decide at once.
        Status.NEEDS_INFO: {Status.IN_REVIEW, Status.APPROVED, Status.DENIED},
        Status.APPROVED: {Status.PAID},
        Status.DENIED: set(),
        Status.PAID: set(),
    }
    # Waiting for a reviewer: these count against the review deadline.
    UNDECIDED = (Status.IN_REVIEW, Status.NEEDS_INFO)
    # A line has at most one of these: a denied claim frees the line to be filed again (with a
    # better receipt); an approved or paid one never does, so a line is paid once.
    LIVE = (Status.IN_REVIEW, Status.NEEDS_INFO, Status.APPROVED, Status.PAID)

    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="claims"
    )
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="claims")
    line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="claims")
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    supplier_name = models.CharField("supplier", max_length=200)
    purchased_on = models.DateField()
    amount = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(CENT)]
    )
    # Private storage (settings.STORAGES["default"] has no URL): served by claims.views only.
    receipt = models.FileField(upload_to=receipt_upload_to, max_length=200, blank=True)
    receipt_name = models.CharField(
        max_length=255, blank=True, help_text="The file name as sent, for people to read."
    )
    receipt_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    receipt_content_type = models.CharField(max_length=50, blank=True)
    receipt_size = models.PositiveIntegerField(default=0)
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="An earlier claim whose receipt has the same content.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True)
    auto_approved = models.BooleanField(default=False)
    # The conditions not met at filing, each {"code": ..., "text": ...}; empty when all were met.
    reasons = models.JSONField(default=list, blank=True)
    approved_amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    decision_note = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # Filed + FBS_CLAIM_REVIEW_DAYS: the published promise to decide within 30 days.
    due_at = models.DateTimeField(db_index=True)
    # Set by the service (which may be given its clock), not auto_now_add.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    credit = models.OneToOneField(
        "payments.LedgerEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claim",
    )
    payout_batch = models.ForeignKey(
        "claims.PayoutBatch",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="claims",
    )
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("export_claim", "Can export claims"),
            ("pay_claim", "Can mark approved claims paid"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["line"],
                condition=Q(status__in=["in_review", "needs_info", "approved", "paid"]),
                name="claim_one_live_per_line",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="claim_amount_positive"),
            models.CheckConstraint(
                condition=Q(approved_amount__isnull=True)
                | Q(approved_amount__gt=0, approved_amount__lte=models.F("amount")),
                name="claim_approved_amount_within_amount",
            ),
        ]
        indexes = [
            # Support's work list: undecided claims by deadline.
            models.Index(
                fields=["due_at"],
                name="claim_undecided_due",
                condition=Q(status__in=["in_review", "needs_info"]),
            ),
            models.Index(fields=["affiliate", "-created_at"]),
        ]

    def __str__(self):
        return self.number

    @property
    def number(self) -> str:
        return f"CLM-{self.pk:07d}" if self.pk else "CLM-new"

    @classmethod
    def can_move(cls, source: str, target: str) -> bool:
        return target in cls.TRANSITIONS.get(source, set())

    @property
    def is_undecided(self) -> bool:
        return self.status in self.UNDECIDED

    def is_overdue(self, now=None) -> bool:
        return self.is_undecided and self.due_at < (now or timezone.now())

    @property
    def receipt_extension(self) -> str:
        return self.receipt.name.rsplit(".", 1)[-1] if self.receipt else ""


class ClaimMessage(models.Model):
    """The thread of a claim: Support asking for more information, the affiliate answering."""

    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_staff = models.BooleanField(default=False)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    # A new receipt the affiliate sent with an answer to "needs information": checked like the
    # receipt sent at filing (claims.receipts), kept in the same private storage, served only to
    # the claim's affiliate and to staff (claims.views). The claim keeps the first one as well.
    receipt = models.FileField(upload_to=receipt_upload_to, max_length=200, blank=True)
    receipt_name = models.CharField(max_length=255, blank=True)
    receipt_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    receipt_content_type = models.CharField(max_length=50, blank=True)
    receipt_size = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.claim}: {self.body[:40]}"

    @property
    def receipt_extension(self) -> str:
        return self.receipt.name.rsplit(".", 1)[-1] if self.receipt else ""


class PayoutBatch(models.Model):
    """Approved claims Finance paid out together; their credits were booked at approval."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    claim_count = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "payout batches"

    def __str__(self):
        return f"Payout batch {self.pk}"
