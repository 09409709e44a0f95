from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, Exists, OuterRef

from affiliates.models import Affiliate, ApiKey, PaymentMethod, User
from affiliates.services import api_key_revoke


class HasValidPaymentFilter(admin.SimpleListFilter):
    title = "valid payment method"
    parameter_name = "valid_payment"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(_has_valid_payment=True)
        if self.value() == "no":
            return queryset.filter(_has_valid_payment=False)
        return queryset


class UserInline(admin.TabularInline):
    model = User
    fields = ("username", "email", "is_active", "last_login")
    readonly_fields = ("username", "email", "last_login")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class PaymentMethodInline(admin.TabularInline):
    model = PaymentMethod
    fields = ("masked", "is_default", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Affiliate)
class AffiliateAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "contact_email",
        "min_stock",
        "marketplaces_display",
        "has_valid_payment",
        "user_count",
        "is_active",
        "created_at",
    )
    list_filter = ("is_active", "min_stock", HasValidPaymentFilter)
    search_fields = ("name", "contact_email", "users__username")
    readonly_fields = ("created_at", "updated_at")
    inlines = [UserInline, PaymentMethodInline]

    def get_queryset(self, request):
        valid = PaymentMethod.objects.filter(affiliate=OuterRef("pk")).valid()
        return (
            super()
            .get_queryset(request)
            .annotate(_user_count=Count("users", distinct=True), _has_valid_payment=Exists(valid))
        )

    @admin.display(description="marketplaces")
    def marketplaces_display(self, obj):
        return obj.get_marketplaces_display()

    @admin.display(description="valid payment", boolean=True, ordering="_has_valid_payment")
    def has_valid_payment(self, obj):
        return obj._has_valid_payment

    @admin.display(description="users", ordering="_user_count")
    def user_count(self, obj):
        return obj._user_count


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "affiliate", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups", "affiliate")
    search_fields = ("username", "email", "first_name", "last_name", "affiliate__name")
    list_select_related = ("affiliate",)
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Affiliate", {"fields": ("affiliate",)}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Affiliate", {"fields": ("affiliate",)}),
    )


@admin.register(PaymentMethod)
class PaymentMethodAdmin(admin.ModelAdmin):
    """Staff see what a method is, never its gateway token."""

    list_display = ("masked", "affiliate", "kind", "is_default", "valid", "created_at")
    list_filter = ("kind", "is_default")
    search_fields = ("affiliate__name", "last4", "paypal_email")
    list_select_related = ("affiliate",)
    fields = ("affiliate", "kind", "masked", "is_default", "created_at")
    readonly_fields = fields

    @admin.display(boolean=True)
    def valid(self, obj):
        return obj.is_valid()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created by the affiliate (or `create_api_key`); staff can see and revoke them."""

    list_display = ("name", "prefix", "affiliate", "user", "created_at", "last_used_at", "active")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "prefix", "affiliate__name", "user__username")
    list_select_related = ("affiliate", "user")
    fields = ("name", "prefix", "affiliate", "user", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(boolean=True)
    def active(self, obj):
        return obj.is_active

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True).select_related("affiliate"))
        for key in keys:
            api_key_revoke(affiliate=key.affiliate, api_key_id=key.pk)
        self.message_user(request, f"{len(keys)} key(s) revoked.", messages.SUCCESS)
