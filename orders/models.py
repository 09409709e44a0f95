from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from affiliates.models import Marketplace


class Order(models.Model):
    """An affiliate's order. Its status changes only through orders.services, each change a
    compare-and-set on the expected status with its timeline event in the same transaction."""

    class Status(models.TextChoices):
        AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        FULFILLED = "fulfilled", "Fulfilled"
        PARTIALLY_VOIDED = "partially_voided", "Partially voided"
        VOIDED = "voided", "Voided"
        SPECIAL_ORDER = "special_order", "Special order"
        CANCELLED = "cancelled", "Cancelled"
        SHIPPED = "shipped", "Shipped"

    # The moves allowed between these statuses: orders/transitions.py.
    # Stock is committed to an order while it is one of these.
    OPEN_STATUSES = (Status.AWAITING_PAYMENT, Status.QUEUED, Status.PROCESSING)
    CANCELLABLE = (Status.AWAITING_PAYMENT, Status.QUEUED)

    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="orders"
    )
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    marketplace = models.CharField(max_length=10, choices=Marketplace.choices)
    marketplace_order_id = models.CharField(max_length=100)
    ship_name = models.CharField(max_length=200)
    ship_address1 = models.CharField(max_length=200)
    ship_address2 = models.CharField(max_length=200, blank=True)
    ship_city = models.CharField(max_length=100)
    ship_state = models.CharField(max_length=2)
    ship_postal_code = models.CharField(max_length=10)
    ship_country = models.CharField(max_length=2, default="US")
    status = models.CharField(max_length=20, choices=Status.choices, db_index=True)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    # What the claim rules look at later: the affiliate as it was when the order was placed.
    min_stock_at_placement = models.PositiveSmallIntegerField()
    card_on_file_at_placement = models.BooleanField()
    payment_method = models.ForeignKey(
        "affiliates.PaymentMethod", null=True, blank=True, on_delete=models.SET_NULL
    )
    charge_reference = models.CharField(max_length=100, blank=True)
    payment_attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # The end of the cancel window: paid_at + FBS_CANCEL_WINDOW_SECONDS.
    release_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    # When the current fulfillment run was handed out, to find runs that died.
    processing_started_at = models.DateTimeField(null=True, blank=True)
    fulfillment_runs = models.PositiveIntegerField(default=0)
    needs_attention = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["affiliate", "marketplace_order_id"], name="order_marketplace_id_once"
            ),
        ]
        indexes = [
            # The release sweep: due queued orders, oldest first.
            models.Index(
                fields=["release_at"], name="order_queued_due", condition=Q(status="queued")
            ),
            models.Index(
                fields=["processing_started_at"],
                name="order_processing",
                condition=Q(status="processing"),
            ),
            models.Index(fields=["affiliate", "status", "-created_at"]),
        ]

    def __str__(self):
        return self.number

    @property
    def number(self) -> str:
        return f"FBS-{self.pk:07d}" if self.pk else "FBS-new"


class OrderLine(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        FULFILLED = "fulfilled", "At a warehouse"
        VOIDED = "voided", "Voided and refunded"
        SPECIAL_ORDER = "special_order", "Special order"
        CANCELLED = "cancelled", "Cancelled"
        SHIPPED = "shipped", "Shipped"

    # The moves allowed between these statuses: orders/transitions.py.
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey("inventory.Item", on_delete=models.PROTECT, related_name="+")
    line_code = models.CharField(max_length=10)
    part_number = models.CharField(max_length=50)
    qty = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    line_total = models.DecimalField(max_digits=12, decimal_places=2)

    class Compensation(models.TextChoices):
        NONE = "", "Not compensated"
        SPECIAL_ORDER = "special_order", "Special order"
        CLAIM = "claim", "Claim"

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    # How FBS makes good a line it voided: once, by a special order (the refund is reversed and
    # the part ships) or by a claim (the affiliate bought it elsewhere), never both. One column
    # holds one answer, and every writer sets it by compare-and-set from "" (set_compensation in
    # orders.services), so of two requests at the same moment exactly one wins. Given back ("")
    # only when that compensation ends without paying: a special order withdrawn or voided again,
    # a claim denied.
    compensation = models.CharField(
        max_length=20, choices=Compensation.choices, default=Compensation.NONE, blank=True
    )
    # Whether this line's qty is counted in the item's committed_qty right now.
    committed = models.BooleanField(default=False)
    warehouse = models.ForeignKey(
        "inventory.Warehouse", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unit_cost = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    second_sourced = models.BooleanField(default=False)
    # What FBS paid over the first choice's cost to second-source it.
    extra_cost = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    tracking_number = models.CharField(max_length=60, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    # Tries of the current reversal charge (a decline moves to a new gateway key)...
    reversal_attempts = models.PositiveIntegerField(default=0)
    # ...and reversals that went through: each void/reversal cycle has its own ledger keys.
    reversal_attempts_done = models.PositiveIntegerField(default=0)
    # The reversal charge, which a later void of this line refunds against.
    charge_reference = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["order", "id"]
        indexes = [
            models.Index(
                fields=["item"], name="line_special_order", condition=Q(status="special_order")
            ),
            models.Index(fields=["decided_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(qty__gte=1), name="line_qty_gte_1"),
            # A line waiting as a special order is compensated by it: no path can make a claimed
            # line a special order, whatever it forgets to check.
            models.CheckConstraint(
                condition=~Q(status="special_order") | Q(compensation="special_order"),
                name="line_special_order_is_its_compensation",
            ),
        ]

    def __str__(self):
        return f"{self.line_code} {self.part_number} x{self.qty}"


class SourcingAttempt(models.Model):
    """One request to one warehouse for one line: the first choice, and every second source."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        MISSED = "missed", "Could not fill"
        ERROR = "error", "Error"

    line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="attempts")
    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    # Which try of the line: 0 first, 1 after its first special-order reversal, and so on.
    cycle = models.PositiveIntegerField(default=0)
    second_source = models.BooleanField(default=False)
    unit_cost = models.DecimalField(max_digits=10, decimal_places=2)
    extra_cost = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    message = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.warehouse_id}: {self.outcome}"


class OrderEvent(models.Model):
    """The timeline: one row per thing that happened to an order, written on purpose by the
    service that made it happen (orders.events)."""

    class Actor(models.TextChoices):
        AFFILIATE = "affiliate", "Affiliate"
        STAFF = "staff", "FBS staff"
        SYSTEM = "system", "System"
        WAREHOUSE = "warehouse", "Warehouse"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    line = models.ForeignKey(
        OrderLine, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=40)
    actor = models.CharField(max_length=10, choices=Actor.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    message = models.CharField(max_length=500)
    status_from = models.CharField(max_length=20, blank=True)
    status_to = models.CharField(max_length=20, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["order", "created_at"])]

    def __str__(self):
        return f"{self.kind}: {self.message}"


class ApiIdempotencyKey(models.Model):
    """An Idempotency-Key sent with POST /api/v1/orders: a repeat returns the first order."""

    affiliate = models.ForeignKey("affiliates.Affiliate", on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    order = models.ForeignKey(Order, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["affiliate", "key"], name="idempotency_key_once")
        ]

    def __str__(self):
        return self.key


class SandboxPlacement(models.Model):
    """The sandbox warehouse connector's memory of what it answered, by idempotency key."""

    key = models.CharField(max_length=200, unique=True)
    accepted = models.BooleanField()
    message = models.CharField(max_length=255)
    reference = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.key
