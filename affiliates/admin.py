from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
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


def _manages_staff(request) -> bool:
    """Only superusers manage staff accounts: their status, groups, permissions, passwords and
    emails. Everyone else in admin (Support, Finance) works on affiliate users only."""
    return request.user.is_active and request.user.is_superuser


def _is_staff_account(user: User) -> bool:
    return user.is_staff or user.is_superuser or user.affiliate_id is None


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Superusers see Django's user admin whole. Support edits affiliate users' names, emails,
    passwords and active flag, and nothing that grants power (staff or superuser status, groups,
    permissions) or moves a user to another affiliate; staff accounts are not even listed for it.
    The form is built from the fieldsets, so a POST with extra fields changes nothing."""

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
    # What Support sees of an affiliate user: no field that grants power.
    affiliate_user_fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("is_active",)}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
        ("Affiliate", {"fields": ("affiliate",)}),
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if _manages_staff(request):
            return queryset
        # Affiliate users only (the database keeps them from being staff or superusers): a staff
        # account's change form, password form and bulk actions are out of reach, not only hidden.
        return queryset.filter(affiliate__isnull=False, is_staff=False, is_superuser=False)

    def get_fieldsets(self, request, obj=None):
        if _manages_staff(request) or obj is None:
            return super().get_fieldsets(request, obj)
        return self.affiliate_user_fieldsets

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if _manages_staff(request) or obj is None:
            return readonly
        # Moving a user to another affiliate would hand it that affiliate's orders and claims.
        return (*readonly, "last_login", "date_joined", "affiliate")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None and not _manages_staff(request) and "affiliate" in form.base_fields:
            # A user Support adds belongs to an affiliate; a staff account is a superuser's job.
            form.base_fields["affiliate"].required = True
        return form

    def has_change_permission(self, request, obj=None):
        if obj is not None and _is_staff_account(obj) and not _manages_staff(request):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and _is_staff_account(obj) and not _manages_staff(request):
            return False
        return super().has_delete_permission(request, obj)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """A group is what its staff may do: only superusers add, change or delete one, whatever
    permissions anyone else was given. Staff with "view group" may read them."""

    def has_add_permission(self, request):
        return _manages_staff(request)

    def has_change_permission(self, request, obj=None):
        return _manages_staff(request)

    def has_delete_permission(self, request, obj=None):
        return _manages_staff(request)


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
