from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from affiliates import selectors, services
from affiliates.models import MIN_STOCK_FLOOR, MIN_STOCK_MAX, Marketplace, PaymentMethod


class MeSerializer(serializers.Serializer):
    username = serializers.CharField(read_only=True)
    affiliate = serializers.CharField(read_only=True)
    min_stock = serializers.IntegerField(min_value=MIN_STOCK_FLOOR, max_value=MIN_STOCK_MAX)
    marketplaces = serializers.ListField(
        child=serializers.ChoiceField(choices=Marketplace.choices), required=False
    )
    has_valid_payment_method = serializers.BooleanField(read_only=True)


def _me_data(user) -> dict:
    affiliate = user.affiliate
    return {
        "username": user.get_username(),
        "affiliate": affiliate.name,
        "min_stock": affiliate.min_stock,
        "marketplaces": affiliate.marketplaces,
        "has_valid_payment_method": selectors.affiliate_has_valid_payment_method(
            affiliate=affiliate
        ),
    }


class MeView(APIView):
    """The key's user and affiliate: what decides what the affiliate sees and how it pays."""

    @extend_schema(responses=MeSerializer, operation_id="me_retrieve")
    def get(self, request):
        return Response(MeSerializer(_me_data(request.user)).data)

    @extend_schema(request=MeSerializer, responses=MeSerializer, operation_id="me_update")
    def patch(self, request):
        serializer = MeSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        affiliate = request.user.affiliate
        services.affiliate_update(
            affiliate=affiliate,
            name=affiliate.name,
            contact_email=affiliate.contact_email,
            min_stock=serializer.validated_data.get("min_stock", affiliate.min_stock),
            marketplaces=serializer.validated_data.get("marketplaces", affiliate.marketplaces),
        )
        request.user.affiliate.refresh_from_db()
        return Response(MeSerializer(_me_data(request.user)).data)


class PaymentMethodSerializer(serializers.ModelSerializer):
    valid = serializers.BooleanField(source="is_valid", read_only=True)
    # Not an `email` in the schema: it is empty for a card.
    paypal_email = serializers.CharField(read_only=True, help_text="PayPal only; empty for cards")

    class Meta:
        model = PaymentMethod
        fields = [
            "id",
            "kind",
            "brand",
            "last4",
            "exp_month",
            "exp_year",
            "paypal_email",
            "is_default",
            "valid",
            "created_at",
        ]
        read_only_fields = fields


class PaymentMethodCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PaymentMethod.Kind.choices)
    number = serializers.CharField(required=False, write_only=True, max_length=23)
    expiry = serializers.CharField(required=False, help_text="MM/YY", max_length=7)
    email = serializers.EmailField(required=False, help_text="PayPal account email")
    make_default = serializers.BooleanField(default=False)

    def validate(self, attrs):
        if attrs["kind"] == PaymentMethod.Kind.CARD:
            missing = [f for f in ("number", "expiry") if not attrs.get(f)]
        else:
            missing = [] if attrs.get("email") else ["email"]
        if missing:
            raise serializers.ValidationError({f: ["This field is required."] for f in missing})
        return attrs


class PaymentMethodListView(APIView):
    @extend_schema(
        responses=PaymentMethodSerializer(many=True), operation_id="payment_methods_list"
    )
    def get(self, request):
        methods = selectors.payment_methods_for_affiliate(affiliate=request.user.affiliate)
        return Response(PaymentMethodSerializer(methods, many=True).data)

    @extend_schema(
        request=PaymentMethodCreateSerializer,
        responses={201: PaymentMethodSerializer},
        operation_id="payment_methods_create",
    )
    def post(self, request):
        serializer = PaymentMethodCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        affiliate = request.user.affiliate
        if data["kind"] == PaymentMethod.Kind.CARD:
            exp_month, exp_year = services.parse_card_expiry(data["expiry"])
            method = services.payment_method_add_card(
                affiliate=affiliate,
                number=data["number"],
                exp_month=exp_month,
                exp_year=exp_year,
                make_default=data["make_default"],
            )
        else:
            method = services.payment_method_add_paypal(
                affiliate=affiliate, email=data["email"], make_default=data["make_default"]
            )
        return Response(PaymentMethodSerializer(method).data, status=status.HTTP_201_CREATED)


class PaymentMethodDetailView(APIView):
    @extend_schema(responses={204: None}, operation_id="payment_methods_destroy")
    def delete(self, request, pk):
        affiliate = request.user.affiliate
        method = get_object_or_404(affiliate.payment_methods, pk=pk)
        services.payment_method_remove(affiliate=affiliate, payment_method_id=method.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PaymentMethodDefaultView(APIView):
    @extend_schema(
        request=None, responses=PaymentMethodSerializer, operation_id="payment_methods_default"
    )
    def post(self, request, pk):
        affiliate = request.user.affiliate
        method = get_object_or_404(affiliate.payment_methods, pk=pk)
        method = services.payment_method_set_default(
            affiliate=affiliate, payment_method_id=method.pk
        )
        return Response(PaymentMethodSerializer(method).data)
