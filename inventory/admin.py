from django.contrib import admin, messages
from django.core.cache import cache
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from inventory.forms import FeedUploadForm
from inventory.models import FeedImport, Item, Stock, Warehouse, normalise_part_number
from inventory.services import (
    feed_import_upload,
    progress_cache_key,
    warehouse_register,
    warehouse_set_active,
    warehouse_update,
)


class StaleFilter(admin.SimpleListFilter):
    title = "feed"
    parameter_name = "feed"

    def lookups(self, request, model_admin):
        return [("stale", "Stale or never received"), ("fresh", "Fresh")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        now = timezone.now()
        stale_ids = [w.pk for w in queryset if w.is_stale(now)]
        if self.value() == "stale":
            return queryset.filter(pk__in=stale_ids)
        return queryset.exclude(pk__in=stale_ids)


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "state",
        "postal_code",
        "is_active",
        "last_feed_at",
        "feed_age_display",
        "stale",
        "counts_in_stock",
    )
    list_filter = ("is_active", StaleFilter, "state")
    search_fields = ("code", "name", "postal_code")
    fields = (
        "code",
        "name",
        "state",
        "postal_code",
        "feed_max_age",
        "is_active",
        "last_feed_at",
        "counts_in_stock",
    )
    readonly_fields = ("is_active", "last_feed_at", "counts_in_stock")
    actions = ["activate", "deactivate"]

    def save_model(self, request, obj, form, change):
        if not change:
            warehouse_register(
                code=obj.code, name=obj.name, state=obj.state, postal_code=obj.postal_code
            )
            obj.pk = Warehouse.objects.get(code=obj.code.upper()).pk
            return
        editable = {"name", "state", "postal_code", "feed_max_age"}
        changed = {name: form.cleaned_data[name] for name in form.changed_data if name in editable}
        if changed:
            warehouse_update(warehouse=obj, **changed)

    def get_readonly_fields(self, request, obj=None):
        # The code names the feed files; it is fixed once the warehouse exists.
        return (*self.readonly_fields, "code") if obj else self.readonly_fields

    @admin.display(description="feed age")
    def feed_age_display(self, obj):
        age = obj.feed_age
        if age is None:
            return "never"
        hours = age.total_seconds() / 3600
        return f"{hours:.1f} h" if hours >= 1 else f"{age.total_seconds() / 60:.0f} min"

    @admin.display(boolean=True)
    def stale(self, obj):
        return obj.is_stale()

    def _set_active(self, request, queryset, active: bool):
        for warehouse in queryset:
            warehouse_set_active(warehouse=warehouse, is_active=active)
        verb = "activated" if active else "deactivated"
        self.message_user(request, f"{queryset.count()} warehouse(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Activate: count their stock again", permissions=["change"])
    def activate(self, request, queryset):
        self._set_active(request, queryset, True)

    @admin.action(description="Deactivate: their stock stops counting", permissions=["change"])
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, False)


class StockInline(admin.TabularInline):
    model = Stock
    fields = ("warehouse", "qty", "cost", "changed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class ReadOnlyMixin:
    """Items and stock change only through feeds and orders."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Item)
class ItemAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = (
        "line_code",
        "part_number",
        "description",
        "available_qty",
        "stock_qty",
        "committed_qty",
        "price",
        "updated_at",
    )
    search_fields = ("part_number_norm",)
    search_help_text = "Part number or its start; spaces, dashes and dots are ignored."
    show_full_result_count = False
    inlines = [StockInline]
    ordering = ("line_code", "part_number_norm", "id")

    def get_search_results(self, request, queryset, search_term):
        # A prefix match on the normalised part number uses the index; admin's default
        # icontains would scan 1.1 million rows.
        norm = normalise_part_number(search_term)
        if not norm:
            return queryset, False
        return queryset.filter(part_number_norm__startswith=norm), False


@admin.register(Stock)
class StockAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("warehouse", "item", "qty", "cost", "changed_at")
    list_select_related = ("warehouse", "item")
    search_fields = ("item__part_number_norm",)
    search_help_text = "Part number or its start."
    show_full_result_count = False
    raw_id_fields = ("item", "warehouse")

    def get_search_results(self, request, queryset, search_term):
        norm = normalise_part_number(search_term)
        if not norm:
            return queryset, False
        return queryset.filter(item__part_number_norm__startswith=norm), False


@admin.register(FeedImport)
class FeedImportAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "file_name",
        "warehouse",
        "status",
        "progress",
        "rows_read",
        "rows_rejected",
        "items_changed",
        "outcome",
        "duration",
        "created_by",
    )
    list_filter = ("status", "refusal", "allow_empty", "created_at")
    search_fields = ("file_name", "warehouse_code")
    list_select_related = ("warehouse", "created_by")
    date_hierarchy = "created_at"
    change_form_template = "admin/inventory/feedimport/change_form.html"
    readonly_fields = (
        "file_name",
        "warehouse",
        "warehouse_code",
        "status",
        "error",
        "progress",
        "created_by",
        "allow_empty",
        "allow_empty_by",
        "created_at",
        "started_at",
        "finished_at",
        "duration",
        "rows_read",
        "rows_rejected",
        "stock_created",
        "stock_changed",
        "stock_removed",
        "stock_unchanged",
        "stock_rows_written",
        "items_created",
        "items_changed",
        "rejected_rows_table",
    )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = FeedUploadForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["upload", "warehouse_code", "allow_empty"]
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        feed_import = feed_import_upload(
            uploaded_file=form.cleaned_data["upload"],
            warehouse_code=form.cleaned_data.get("warehouse_code", ""),
            user=request.user,
            allow_empty=form.cleaned_data.get("allow_empty", False),
        )
        obj.pk = feed_import.pk
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        pass

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request, "The feed is queued; this page follows its progress.", messages.SUCCESS
        )
        return redirect("admin:inventory_feedimport_change", obj.pk)

    @admin.display(description="progress")
    def progress(self, obj):
        if obj.status in (FeedImport.Status.PENDING, FeedImport.Status.RUNNING):
            read = cache.get(progress_cache_key(obj.pk)) or obj.bytes_read
            if obj.bytes_total:
                return f"{min(99, int(100 * read / obj.bytes_total))}%"
            return obj.get_status_display()
        return "done" if obj.status == FeedImport.Status.APPLIED else "—"

    @admin.display(description="outcome")
    def outcome(self, obj):
        """Why nothing was applied, in short, on the list: staff see a refused feed at once."""
        if obj.status in (FeedImport.Status.REFUSED, FeedImport.Status.REJECTED,
                          FeedImport.Status.FAILED):  # fmt: skip
            return obj.error if len(obj.error) <= 120 else obj.error[:119] + "…"
        if obj.status == FeedImport.Status.APPLIED:
            return (
                f"{obj.stock_created:,} new, {obj.stock_changed:,} changed, "
                f"{obj.stock_removed:,} removed, {obj.stock_unchanged:,} unchanged"
            )
        return ""

    @admin.display(description="seconds")
    def duration(self, obj):
        seconds = obj.duration_seconds
        return f"{seconds:.2f}" if seconds is not None else "—"

    @admin.display(description="rejected rows")
    def rejected_rows_table(self, obj):
        if not obj.rejected_rows:
            return "none"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((line, reason) for line, reason in obj.rejected_rows),
        )
        more = ""
        if obj.rows_rejected > len(obj.rejected_rows):
            more = f"… and {obj.rows_rejected - len(obj.rejected_rows):,} more"
        return format_html(
            "<table><thead><tr><th>Line</th><th>Reason</th></tr></thead><tbody>{}</tbody></table>{}",
            rows,
            more,
        )
