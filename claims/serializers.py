"""What the claims API reads and answers. The request serializer checks shape only; every rule
(which lines can be claimed, dates, amounts, receipts) is claims.services.claim_file's."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from claims.models import Claim
from claims.receipts import MAX_RECEIPT_BYTES

# Plain strings, not enums, in the schema: "status" is already an enum of order statuses, and
# two enums of one name fail the schema check.
STATUS_HELP = "One of: " + ", ".join(Claim.Status.values)


class ClaimCreateSerializer(serializers.Serializer):
    order = serializers.IntegerField(help_text="id of your order with the voided line")
    line = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="id of the voided line; may be left out when the order has one voided line",
    )
    supplier_name = serializers.CharField(
        allow_blank=True, help_text="Who you bought the part from"
    )
    purchased_on = serializers.DateField(help_text="On or after the order date, not in the future")
    amount = serializers.DecimalField(
        max_digits=10, decimal_places=2, help_text="What you paid the supplier, in USD"
    )
    receipt = serializers.FileField(
        required=False,
        help_text=(
            f"PDF, JPEG or PNG, at most {MAX_RECEIPT_BYTES // 1024 // 1024} MB, named .pdf, .jpg "
            "or .png. Without one the claim is reviewed."
        ),
    )


class ClaimReasonSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="min_stock_below_3, no_card_on_file, no_receipt, amount_over_limit or "
        "duplicate_receipt"
    )
    text = serializers.CharField()


class ClaimReceiptSerializer(serializers.Serializer):
    name = serializers.CharField(source="receipt_name")
    content_type = serializers.CharField(source="receipt_content_type")
    size = serializers.IntegerField(source="receipt_size")
    sha256 = serializers.CharField(source="receipt_sha256")


class ClaimMessageSerializer(serializers.Serializer):
    from_fbs = serializers.BooleanField(source="from_staff")
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class ClaimSerializer(serializers.ModelSerializer):
    number = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True, help_text=STATUS_HELP)
    order_number = serializers.CharField(source="order.number", read_only=True)
    part = serializers.SerializerMethodField()
    reasons = ClaimReasonSerializer(
        many=True, read_only=True, help_text="Conditions not met at filing; empty when all were"
    )
    receipt = serializers.SerializerMethodField()
    messages = ClaimMessageSerializer(many=True, read_only=True)

    class Meta:
        model = Claim
        fields = [
            "id",
            "number",
            "status",
            "auto_approved",
            "reasons",
            "order",
            "order_number",
            "line",
            "part",
            "supplier_name",
            "purchased_on",
            "amount",
            "approved_amount",
            "decision_note",
            "created_at",
            "due_at",
            "decided_at",
            "paid_at",
            "receipt",
            "messages",
        ]
        read_only_fields = fields

    def get_part(self, obj) -> str:
        return f"{obj.line.line_code} {obj.line.part_number}"

    @extend_schema_field(ClaimReceiptSerializer(allow_null=True))
    def get_receipt(self, obj):
        return ClaimReceiptSerializer(obj).data if obj.receipt else None


class ClaimErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class ClaimErrorSerializer(serializers.Serializer):
    """The API's one error shape; `fields` names what to fix."""

    error = ClaimErrorBodySerializer()
