"""What the orders API reads and answers.

The request serializers check shape only (strings are strings, qty is a whole number): every
business rule (lengths, qty limits, catalog, stock, US addresses) is order_place's, which lists
the problems it finds line by line in one answer.
"""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from affiliates.models import Marketplace
from orders.models import Order, OrderLine
from payments.models import LedgerEntry

MARKETPLACE_HELP = "One of: " + ", ".join(Marketplace.values)

# --- Requests ---------------------------------------------------------------------------------


class ShipToSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True)
    address1 = serializers.CharField(allow_blank=True)
    address2 = serializers.CharField(allow_blank=True, required=False, default="")
    city = serializers.CharField(allow_blank=True)
    state = serializers.CharField(allow_blank=True, help_text="Two-letter state code")
    postal_code = serializers.CharField(allow_blank=True)
    country = serializers.CharField(
        allow_blank=True, required=False, default="US", help_text="FBS ships to the US only"
    )


class OrderLineInputSerializer(serializers.Serializer):
    line_code = serializers.CharField(allow_blank=True)
    part_number = serializers.CharField(allow_blank=True)
    qty = serializers.IntegerField()


class OrderCreateSerializer(serializers.Serializer):
    # A plain string, not an enum, in the schema: the same choices are named "MarketplacesEnum"
    # by /me, and two names for one enum fail the schema check (see MARKETPLACE_HELP).
    marketplace = serializers.CharField(allow_blank=True, help_text=MARKETPLACE_HELP)
    marketplace_order_id = serializers.CharField(
        allow_blank=True, help_text="The order's number on the marketplace; once per affiliate"
    )
    ship_to = ShipToSerializer()
    lines = OrderLineInputSerializer(many=True)


class CancelRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class OrderLineRefSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="id of one of the order's lines")


# --- Answers ----------------------------------------------------------------------------------


class OrderLineSerializer(serializers.ModelSerializer):
    warehouse = serializers.SlugRelatedField(
        slug_field="code",
        read_only=True,
        allow_null=True,
        help_text="The warehouse that accepted the line; null until one has",
    )

    class Meta:
        model = OrderLine
        fields = [
            "id",
            "line_code",
            "part_number",
            "qty",
            "unit_price",
            "line_total",
            "status",
            "warehouse",
            "tracking_number",
            "voided_at",
            "compensation",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "compensation": {
                "help_text": "How FBS made good a voided line, once: special_order or claim; "
                "empty while it is not compensated"
            }
        }


class ShipToOutputSerializer(serializers.Serializer):
    name = serializers.CharField(source="ship_name")
    address1 = serializers.CharField(source="ship_address1")
    address2 = serializers.CharField(source="ship_address2")
    city = serializers.CharField(source="ship_city")
    state = serializers.CharField(source="ship_state")
    postal_code = serializers.CharField(source="ship_postal_code")
    country = serializers.CharField(source="ship_country")


class OrderMoneySerializer(serializers.Serializer):
    charged = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Charges and refund reversals"
    )
    refunded = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Refunds and void refunds"
    )
    net = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="charged - refunded")


def order_money(order: Order) -> dict:
    """Totals of the order's ledger rows (prefetch `ledger_entries` when serializing many)."""
    charged = refunded = Decimal("0.00")
    for entry in order.ledger_entries.all():
        if LedgerEntry.DIRECTION[entry.kind] > 0:
            charged += entry.amount
        else:
            refunded += entry.amount
    return {"charged": charged, "refunded": refunded, "net": charged - refunded}


class OrderSerializer(serializers.ModelSerializer):
    number = serializers.CharField(read_only=True)
    marketplace = serializers.CharField(read_only=True, help_text=MARKETPLACE_HELP)
    ship_to = ShipToOutputSerializer(source="*", read_only=True)
    can_cancel = serializers.SerializerMethodField(
        help_text="A Cancel Request can still stop the order"
    )
    lines = OrderLineSerializer(many=True, read_only=True)
    money = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "number",
            "status",
            "marketplace",
            "marketplace_order_id",
            "ship_to",
            "total",
            "created_at",
            "paid_at",
            "release_at",
            "cancelled_at",
            "decided_at",
            "shipped_at",
            "can_cancel",
            "lines",
            "money",
        ]
        read_only_fields = fields

    def get_can_cancel(self, obj) -> bool:
        return obj.status in Order.CANCELLABLE

    @extend_schema_field(OrderMoneySerializer)
    def get_money(self, obj):
        return OrderMoneySerializer(order_money(obj)).data


class CancelRequestResultSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["cancelled", "too_late"])
    buyer_message = serializers.CharField(
        allow_null=True, help_text="When too late: what to tell the buyer"
    )
    order = OrderSerializer()


class OrderProblemSerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True, help_text="1-based; null: the whole order")
    field = serializers.CharField(required=False)
    message = serializers.CharField()


class OrderErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
    problems = OrderProblemSerializer(many=True, required=False)


class OrderErrorSerializer(serializers.Serializer):
    """The API's one error shape; a refused order adds `problems`, one per thing to fix."""

    error = OrderErrorBodySerializer()
