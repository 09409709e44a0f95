"""Orders in admin, for Support (and Finance, read-only).

No field of an order is edited here: a status changes only through the actions, which call the
same services as the affiliate's page and the API. "change order" is the permission to run them.
"""

import re

from django.contrib import admin, messages
from django.db.models import Count

from orders import services
from orders.models import Order, OrderEvent, OrderLine, SourcingAttempt
from payments.models import LedgerEntry
from sophio_fbs.errors import DomainError

# Our number as Support reads it off a ticket: "FBS-0000042", "fbs42" or "42".
_OUR_NUMBER = re.compile(r"^\s*(?:FBS-?)?0*(\d{1,12})\s*$", re.IGNORECASE)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = (
        "line_code",
        "part_number",
        "qty",
        "unit_price",
        "line_total",
        "status",
        "compensation",
        "warehouse",
        "second_sourced",
        "extra_cost",
        "attempts_count",
        "tracking_number",
        "decided_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("warehouse")
            .annotate(_attempts=Count("attempts"))
        )

    @admin.display(description="attempts")
    def attempts_count(self, obj):
        return obj._attempts


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    verbose_name = "timeline event"
    verbose_name_plural = "timeline"
    fields = ("created_at", "kind", "actor", "user", "message", "status_from", "status_to", "line")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "line")


class LedgerEntryInline(ReadOnlyInline):
    model = LedgerEntry
    fields = (
        "created_at",
        "kind",
        "amount",
        "currency",
        "payment_method_label",
        "gateway_reference",
        "idempotency_key",
    )
    readonly_fields = fields


def _numbers(orders) -> str:
    return ", ".join(order.number for order in orders)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "affiliate",
        "marketplace",
        "marketplace_order_id",
        "status",
        "total",
        "created_at",
        "release_at",
        "needs_attention",
    )
    list_filter = ("status", "needs_attention", "marketplace", "affiliate")
    list_select_related = ("affiliate",)
    date_hierarchy = "created_at"
    search_fields = ("=marketplace_order_id", "affiliate__name")
    search_help_text = "Our number (FBS-0000042 or 42), the marketplace's number, or affiliate."
    show_full_result_count = False
    inlines = [OrderLineInline, OrderEventInline, LedgerEntryInline]
    actions = ["cancel_request", "restart_fulfillment", "clear_needs_attention"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "number",
                    "affiliate",
                    "placed_by",
                    "status",
                    "needs_attention",
                    "marketplace",
                    "marketplace_order_id",
                    "total",
                )
            },
        ),
        (
            "Ship to",
            {
                "fields": (
                    "ship_name",
                    "ship_address1",
                    "ship_address2",
                    "ship_city",
                    "ship_state",
                    "ship_postal_code",
                    "ship_country",
                )
            },
        ),
        (
            "Payment",
            {
                "fields": (
                    "payment_method",
                    "charge_reference",
                    "payment_attempts",
                    "min_stock_at_placement",
                    "card_on_file_at_placement",
                )
            },
        ),
        (
            "Dates",
            {
                "fields": (
                    "created_at",
                    "paid_at",
                    "release_at",
                    "released_at",
                    "processing_started_at",
                    "fulfillment_runs",
                    "decided_at",
                    "cancelled_at",
                    "shipped_at",
                )
            },
        ),
    )
    readonly_fields = ("number", *(f.name for f in Order._meta.fields if f.name != "id"))

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        match = _OUR_NUMBER.match(search_term or "")
        if match:
            results |= queryset.filter(pk=int(match.group(1)))
        return results, may_have_duplicates

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # "change order" runs the actions on the list; an order's own page is always read-only.
        return obj is None and super().has_change_permission(request)

    @admin.action(description="Cancel Request (as staff)", permissions=["change"])
    def cancel_request(self, request, queryset):
        cancelled, too_late, already = [], [], []
        for order in queryset.order_by("pk"):
            if order.status == Order.Status.CANCELLED:
                already.append(order)
                continue
            outcome = services.order_cancel_request(order=order, user=request.user)
            (cancelled if outcome == services.CANCELLED else too_late).append(order)
        if cancelled:
            self.message_user(
                request,
                f"Cancelled (and refunded when paid): {_numbers(cancelled)}.",
                messages.SUCCESS,
            )
        if too_late:
            self.message_user(
                request,
                f"Too late, already released to fulfillment: {_numbers(too_late)}.",
                messages.WARNING,
            )
        if already:
            self.message_user(request, f"Already cancelled: {_numbers(already)}.", messages.INFO)

    @admin.action(description="Restart fulfillment (processing orders)", permissions=["change"])
    def restart_fulfillment(self, request, queryset):
        restarted = services.order_fulfillment_restart(
            order_ids=list(queryset.values_list("pk", flat=True)), user=request.user
        )
        skipped = queryset.count() - len(restarted)
        if restarted:
            self.message_user(
                request, f"Queued for fulfillment: {_numbers(restarted)}.", messages.SUCCESS
            )
        if skipped:
            self.message_user(
                request, f"{skipped} order(s) skipped: not processing.", messages.INFO
            )

    @admin.action(description="Clear needs-attention flag", permissions=["change"])
    def clear_needs_attention(self, request, queryset):
        cleared = services.order_clear_needs_attention(
            order_ids=list(queryset.values_list("pk", flat=True)), user=request.user
        )
        self.message_user(request, f"{len(cleared)} order(s) cleared.", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SourcingAttemptInline(ReadOnlyInline):
    model = SourcingAttempt
    fields = ("created_at", "warehouse", "outcome", "second_source", "unit_cost", "extra_cost")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("warehouse")


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "order",
        "status",
        "compensation",
        "warehouse",
        "second_sourced",
        "extra_cost",
        "line_total",
        "decided_at",
    )
    list_filter = ("status", "second_sourced", "warehouse")
    list_select_related = ("order", "warehouse")
    search_fields = ("=part_number", "=order__marketplace_order_id")
    search_help_text = "Part number, or the marketplace's order number."
    show_full_result_count = False
    inlines = [SourcingAttemptInline]
    actions = ["special_order"]

    def has_special_order_permission(self, request):
        # The orders' "change" permission runs their actions (OrderAdmin); lines follow it.
        return request.user.has_perm("orders.change_order")

    @admin.action(
        description="Make special order (the buyer agreed to wait)", permissions=["special_order"]
    )
    def special_order(self, request, queryset):
        """Support's way to the affiliate's Special order button, through the same service:
        a line compensated already (by a claim) is refused with the same message."""
        made = []
        for line in queryset.select_related("order").order_by("pk"):
            try:
                services.order_special_order_request(
                    order=line.order, line_id=line.pk, user=request.user
                )
            except DomainError as exc:
                self.message_user(request, f"{line.order}: {exc.message}", messages.ERROR)
            else:
                made.append(f"{line.order} {line}")
        if made:
            self.message_user(request, f"Now special orders: {', '.join(made)}.", messages.SUCCESS)


@admin.register(SourcingAttempt)
class SourcingAttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "line",
        "warehouse",
        "outcome",
        "second_source",
        "unit_cost",
        "extra_cost",
        "message",
    )
    list_filter = ("outcome", "second_source")
    list_select_related = ("line", "warehouse")
    show_full_result_count = False
