import re
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

_NOT_ALNUM = re.compile(r"[^0-9A-Z]")


def normalise_part_number(value: str) -> str:
    """What search compares: upper case, no spaces, dashes, dots or other punctuation.
    'ab-12.3 4' and 'AB1234' are the same part number to a person searching."""
    return _NOT_ALNUM.sub("", (value or "").upper())


class Warehouse(models.Model):
    """One of the 250+ warehouses whose feeds make the master inventory."""

    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200, blank=True)
    # Where it ships from: enough to tell the closest warehouse for a ship-to address.
    state = models.CharField(max_length=2, blank=True, help_text="Two-letter US state code.")
    postal_code = models.CharField(max_length=10, blank=True)
    is_active = models.BooleanField(default=True)
    # A feed older than this counts as no stock at all: a stale feed would sell what is gone.
    feed_max_age = models.DurationField(default=timedelta(hours=24))
    last_feed_at = models.DateTimeField(null=True, blank=True)
    # Whether this warehouse's stock is in the items' aggregates right now. It is turned off when
    # the warehouse goes stale or inactive and on when a fresh feed arrives; every flip recomputes
    # the aggregates of its items, so visibility stays one indexed comparison on Item.
    counts_in_stock = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return self.code

    def is_stale(self, now=None) -> bool:
        if self.last_feed_at is None:
            return True
        return (now or timezone.now()) - self.last_feed_at > self.feed_max_age

    @property
    def feed_age(self) -> timedelta | None:
        return timezone.now() - self.last_feed_at if self.last_feed_at else None


class ItemQuerySet(models.QuerySet):
    def visible_to(self, affiliate):
        """Items this affiliate may see and sell: available qty at or above its min stock, and
        never below FBS_MIN_VISIBLE_QTY, whatever the affiliate set."""
        return self.filter(available_qty__gte=visibility_threshold(affiliate))


def visibility_threshold(affiliate) -> int:
    return max(settings.FBS_MIN_VISIBLE_QTY, affiliate.min_stock)


class Item(models.Model):
    """A part in the master inventory. Its aggregates are kept by the feed import (stock) and the
    orders (committed), so that visibility is one indexed comparison."""

    line_code = models.CharField(max_length=10)
    part_number = models.CharField(max_length=50)
    part_number_norm = models.CharField(max_length=50, editable=False)
    description = models.CharField(max_length=255, blank=True)
    # What the affiliate pays per unit: the lowest cost among fresh warehouses holding it, plus
    # the FBS margin. Kept when stock runs out, so a restocked item has a price.
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    # Sum of qty at warehouses that count (active, fresh feed).
    stock_qty = models.IntegerField(default=0)
    # Qty held by open orders (placed, not yet at a warehouse).
    committed_qty = models.IntegerField(default=0)
    # stock_qty - committed_qty: what can still be sold.
    available_qty = models.IntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ItemQuerySet.as_manager()

    class Meta:
        ordering = ["line_code", "part_number_norm", "id"]
        constraints = [
            models.UniqueConstraint(fields=["line_code", "part_number"], name="item_key"),
            models.CheckConstraint(condition=Q(committed_qty__gte=0), name="item_committed_gte_0"),
        ]
        indexes = [
            # Search: exact and prefix matches of the normalised part number, in keyset order.
            # Partial: items below 2 are hidden from everyone and never listed.
            models.Index(
                fields=["part_number_norm", "line_code", "id"],
                name="item_search_visible",
                condition=Q(available_qty__gte=2),
            ),
            # Browse and the feed: line code order, also only visible items.
            models.Index(
                fields=["line_code", "part_number_norm", "id"],
                name="item_browse_visible",
                condition=Q(available_qty__gte=2),
            ),
        ]

    def __str__(self):
        return f"{self.line_code} {self.part_number}"


class Stock(models.Model):
    """What one warehouse's latest feed says it holds of one item."""

    # No single-column indexes on the keys: the (warehouse, item) and (item, warehouse) indexes
    # below serve both lookups, and every stock write would pay for two more.
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.CASCADE, related_name="stock", db_index=False
    )
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="stock", db_index=False)
    qty = models.IntegerField()
    cost = models.DecimalField(max_digits=10, decimal_places=2)
    # When a feed last changed this row. A row is in the warehouse's latest feed by definition
    # (rows missing from a feed are removed), so it was last seen at warehouse.last_feed_at;
    # re-importing an unchanged feed rewrites nothing.
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "item"], name="stock_warehouse_item"),
            models.CheckConstraint(condition=Q(qty__gte=0), name="stock_qty_gte_0"),
        ]
        indexes = [models.Index(fields=["item", "warehouse"], name="stock_item_warehouse")]
        verbose_name_plural = "stock"

    def __str__(self):
        return f"{self.warehouse_id}:{self.item_id}={self.qty}"


class FeedImport(models.Model):
    """One import of one warehouse feed file: who, when, what happened, and the rejected rows."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        APPLIED = "applied", "Applied"
        REJECTED = "rejected", "Rejected whole"
        # Read and checked, but applying it would have cost stock
        # (inventory/feed_import/guards.py): the warehouse keeps its last good snapshot.
        REFUSED = "refused", "Refused, not applied"
        FAILED = "failed", "Failed"

    # The rejected rows kept for the report; the count covers them all.
    MAX_REPORTED_REJECTS = 1000

    warehouse = models.ForeignKey(
        Warehouse, null=True, blank=True, on_delete=models.SET_NULL, related_name="imports"
    )
    warehouse_code = models.CharField(max_length=40, blank=True)
    file_name = models.CharField(max_length=255)
    file = models.FileField(upload_to="feeds/%Y/%m/", blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    bytes_total = models.BigIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    rows_read = models.IntegerField(default=0)
    rows_rejected = models.IntegerField(default=0)
    stock_rows_written = models.IntegerField(default=0)
    items_created = models.IntegerField(default=0)
    items_changed = models.IntegerField(default=0)
    # The summary at the warehouse: its rows new, changed (qty, cost or description), removed
    # (no longer listed) and unchanged; new + changed + unchanged = rows read - rows rejected.
    stock_created = models.IntegerField("items new here", default=0)
    stock_changed = models.IntegerField("items changed", default=0)
    stock_removed = models.IntegerField("items removed", default=0)
    stock_unchanged = models.IntegerField("items unchanged", default=0)
    # Emptying a warehouse, or removing most of its stock, on purpose: who chose it.
    allow_empty = models.BooleanField(
        "allowed to empty the warehouse",
        default=False,
        help_text="The feed may remove most or all of the warehouse's stock.",
    )
    allow_empty_by = models.CharField("allowed by", max_length=200, blank=True)
    # Why the guard refused it (feed_import.guards.FeedDecision.code); the sentence is in `error`.
    refusal = models.CharField(max_length=30, blank=True)
    error = models.TextField(blank=True)
    rejected_rows = models.JSONField(default=list, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    # Set when the file was byte for byte the warehouse's last applied feed: nothing to apply.
    same_as = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["warehouse", "-created_at"])]

    def __str__(self):
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def progress_percent(self) -> int:
        if self.status in (self.Status.APPLIED, self.Status.REJECTED, self.Status.REFUSED):
            return 100
        if not self.bytes_total:
            return 0
        return min(99, int(100 * self.bytes_read / self.bytes_total))
