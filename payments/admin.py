from django.contrib import admin

from payments.models import LedgerEntry


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """The ledger is append-only: staff read it, services write it."""

    list_display = ("created_at", "affiliate", "kind", "amount", "currency", "idempotency_key")
    list_filter = ("kind", "created_at")
    search_fields = ("idempotency_key", "affiliate__name", "gateway_reference", "memo")
    list_select_related = ("affiliate",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in LedgerEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
