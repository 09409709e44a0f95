"""Claims in admin: Support's review work list and Finance's payouts and reports.

No field of a claim is edited here: a claim changes only through the actions, which call the same
services as the affiliate's pages. Each decision goes through a page of its own (amount and note,
a reason, a question) before anything changes. "change claim" is Support's permission to decide;
"pay claim" is Finance's to mark approved claims paid; "export claim" is Finance's to export.
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX

from claims import exports, selectors, services
from claims.errors import ClaimPayoutChangedError, ClaimStatusError
from claims.forms import ApproveForm, DenyForm, PayoutForm, RequestInfoForm
from claims.models import Claim, ClaimMessage, PayoutBatch
from claims.resources import ClaimResource
from orders.errors import LineCompensatedError
from sophio_fbs.errors import DomainError

Status = Claim.Status


# --- Filters ----------------------------------------------------------------------------------


class DeadlineFilter(admin.SimpleListFilter):
    title = "review deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [
            ("overdue", "Overdue"),
            ("due_soon", f"Due within {services.DIGEST_DUE_WITHIN_DAYS} days"),
            ("undecided", "Not decided yet"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "overdue":
            return queryset.filter(pk__in=selectors.claims_overdue(now=now).values("pk"))
        if self.value() == "due_soon":
            soon = selectors.claims_due_within(now=now, days=services.DIGEST_DUE_WITHIN_DAYS)
            return queryset.filter(pk__in=soon.values("pk"))
        if self.value() == "undecided":
            return queryset.filter(status__in=Claim.UNDECIDED)
        return queryset


class DuplicateReceiptFilter(admin.SimpleListFilter):
    title = "receipt"
    parameter_name = "receipt"

    def lookups(self, request, model_admin):
        return [
            ("duplicate", "Same file as an earlier claim"),
            ("missing", "No receipt"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "duplicate":
            return queryset.filter(duplicate_of__isnull=False)
        if self.value() == "missing":
            return queryset.filter(receipt="")
        return queryset


class CompensatedTwiceFilter(admin.SimpleListFilter):
    title = "line compensation"
    parameter_name = "compensation"

    def lookups(self, request, model_admin):
        return [("special_order_too", "Line is a special order too: deny or withdraw one")]

    def queryset(self, request, queryset):
        if self.value() == "special_order_too":
            return queryset.filter(pk__in=selectors.claims_compensated_twice().values("pk"))
        return queryset


class FiledRangeFilter(admin.ListFilter):
    """Filed between two dates (inclusive, local time): the range Finance reports on."""

    title = "filed between"
    template = "admin/claims/filed_range_filter.html"
    params = ("filed_from", "filed_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.values = {}
        for name in self.params:
            if name in params:
                value = params.pop(name)
                self.values[name] = value[-1] if isinstance(value, list) else value
        self.other_params = [
            (name, value)
            for name, values in request.GET.lists()
            if name not in self.params and name != "p"
            for value in values
        ]

    def _date(self, name) -> date | None:
        try:
            return date.fromisoformat(self.values.get(name, ""))
        except ValueError:
            return None

    @property
    def value_from(self):
        return self.values.get("filed_from", "")

    @property
    def value_to(self):
        return self.values.get("filed_to", "")

    def has_output(self):
        return True

    def choices(self, changelist):
        return []

    def expected_parameters(self):
        return list(self.params)

    def queryset(self, request, queryset):
        start, end = self._date("filed_from"), self._date("filed_to")
        if start:
            queryset = queryset.filter(
                created_at__gte=timezone.make_aware(datetime.combine(start, time.min))
            )
        if end:
            queryset = queryset.filter(
                created_at__lt=timezone.make_aware(
                    datetime.combine(end + timedelta(days=1), time.min)
                )
            )
        return queryset


# --- Inlines ----------------------------------------------------------------------------------


class ClaimMessageInline(admin.TabularInline):
    model = ClaimMessage
    fields = ("created_at", "from_staff", "author", "body", "receipt_link")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "messages"

    @admin.display(description="receipt")
    def receipt_link(self, obj):
        # A download through the same checked view as the claim's receipt, never a storage URL.
        if not obj.receipt:
            return "—"
        url = reverse("claims:message-receipt", args=[obj.claim_id, obj.pk])
        return format_html('<a href="{}">{}</a> ({})', url, obj.receipt_name, obj.receipt_size)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Claims -----------------------------------------------------------------------------------


@admin.register(Claim)
class ClaimAdmin(ExportMixin, admin.ModelAdmin):
    resource_classes = [ClaimResource]
    export_formats = [CSV, XLSX]
    import_export_change_list_template = "admin/claims/claim/change_list.html"
    change_form_template = "admin/claims/claim/change_form.html"
    list_display = (
        "number",
        "affiliate",
        "order_number",
        "part",
        "amount",
        "approved_amount",
        "status",
        "auto_approved",
        "duplicate_receipt",
        "due",
        "created_at",
    )
    list_filter = (
        "status",
        DeadlineFilter,
        "auto_approved",
        DuplicateReceiptFilter,
        CompensatedTwiceFilter,
        FiledRangeFilter,
        "affiliate",
    )
    list_select_related = ("affiliate", "order", "line")
    # The work list: the nearest deadline first.
    ordering = ("due_at", "id")
    date_hierarchy = "created_at"
    search_fields = (
        "supplier_name",
        "affiliate__name",
        "=line__part_number",
        "=order__marketplace_order_id",
        "=receipt_sha256",
    )
    search_help_text = (
        "Claim (CLM-0000042 or 42), order (FBS-0000042), part number, supplier, affiliate, "
        "marketplace order number, or receipt SHA-256."
    )
    show_full_result_count = False
    inlines = [ClaimMessageInline]
    actions = ["approve_claims", "deny_claims", "request_info", "mark_paid"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "number",
                    "status",
                    "affiliate",
                    "order_link",
                    "line_summary",
                    "filed_by",
                    "created_at",
                    "due_at",
                )
            },
        ),
        (
            "What was bought",
            {
                "fields": (
                    "supplier_name",
                    "purchased_on",
                    "amount",
                    "receipt_link",
                    "receipt_sha256",
                    "duplicate_of_link",
                )
            },
        ),
        ("Conditions not met at filing", {"fields": ("reasons_list", "auto_approved")}),
        (
            "Decision and payout",
            {
                "fields": (
                    "approved_amount",
                    "decision_note",
                    "decided_by",
                    "decided_at",
                    "credit",
                    "payout_batch",
                    "paid_at",
                )
            },
        ),
    )
    readonly_fields = (
        "number",
        "status",
        "affiliate",
        "order_link",
        "line_summary",
        "filed_by",
        "created_at",
        "due_at",
        "supplier_name",
        "purchased_on",
        "amount",
        "receipt_link",
        "receipt_sha256",
        "duplicate_of_link",
        "reasons_list",
        "auto_approved",
        "approved_amount",
        "decision_note",
        "decided_by",
        "decided_at",
        "credit",
        "payout_batch",
        "paid_at",
    )

    # --- Permissions ------------------------------------------------------------------------

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # "change claim" runs the decisions on the list; a claim's own page is always read-only.
        return obj is None and super().has_change_permission(request)

    def has_pay_permission(self, request):
        return request.user.has_perm("claims.pay_claim")

    def has_export_permission(self, request):
        # Until settings name IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export", decided here.
        return request.user.has_perm("claims.export_claim")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        decisions = [("approve_claims", "Approve…"), ("deny_claims", "Deny…")]
        try:
            claim = Claim.objects.filter(pk=object_id).only("status").first()
        except (ValueError, ValidationError):
            claim = None
        if claim is not None and claim.status == Status.IN_REVIEW:
            decisions.append(("request_info", "Ask for more information…"))
        if claim is not None and selectors.claims_compensated_twice().filter(pk=claim.pk).exists():
            self.message_user(
                request,
                "This claim's line is a special order too (filed before a line could be "
                "compensated only once): it cannot be approved or paid. Deny the claim, or have "
                "the affiliate withdraw the special order, then decide.",
                messages.WARNING,
            )
        extra_context = {
            **(extra_context or {}),
            "has_decide_permission": self.has_change_permission(request),
            "has_pay_permission": self.has_pay_permission(request),
            "decision_actions": decisions,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- Columns ----------------------------------------------------------------------------

    @admin.display(description="order", ordering="order_id")
    def order_number(self, obj):
        return obj.order.number

    @admin.display(description="part")
    def part(self, obj):
        return f"{obj.line.line_code} {obj.line.part_number}"

    @admin.display(description="same receipt", boolean=True)
    def duplicate_receipt(self, obj):
        return obj.duplicate_of_id is not None

    @admin.display(description="due", ordering="due_at")
    def due(self, obj):
        when = timezone.localtime(obj.due_at).strftime("%b %-d, %Y")
        if obj.is_overdue():
            return format_html('<strong class="fbs-overdue">{} (overdue)</strong>', when)
        if not obj.is_undecided:
            return format_html('<span class="fbs-quiet">{}</span>', when)
        return when

    @admin.display(description="order")
    def order_link(self, obj):
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html(
            '<a href="{}">{}</a> (min stock {} and {} at placement)',
            url,
            obj.order.number,
            obj.order.min_stock_at_placement,
            "a valid card on file" if obj.order.card_on_file_at_placement else "no valid card",
        )

    @admin.display(description="line")
    def line_summary(self, obj):
        line = obj.line
        return (
            f"{line.qty} x {line.line_code} {line.part_number}, ${line.line_total}, "
            f"{line.get_status_display().lower()} "
            f"{timezone.localtime(line.voided_at):%b %-d, %Y %H:%M}"
            if line.voided_at
            else f"{line.qty} x {line.line_code} {line.part_number} ({line.get_status_display()})"
        )

    @admin.display(description="receipt")
    def receipt_link(self, obj):
        if not obj.receipt:
            return "none attached"
        return format_html(
            '<a href="{}">{}</a> ({}, {} bytes)',
            reverse("claims:receipt", args=[obj.pk]),
            obj.receipt_name or "download",
            obj.receipt_content_type,
            f"{obj.receipt_size:,}",
        )

    @admin.display(description="same receipt as")
    def duplicate_of_link(self, obj):
        if obj.duplicate_of_id is None:
            return "—"
        other = obj.duplicate_of
        return format_html(
            '<a href="{}">{}</a> of {} ({}): check it is not the same purchase claimed twice',
            reverse("admin:claims_claim_change", args=[other.pk]),
            other.number,
            other.affiliate,
            other.get_status_display().lower(),
        )

    @admin.display(description="reasons")
    def reasons_list(self, obj):
        if not obj.reasons:
            return "none: every condition was met"
        return format_html(
            '<ul class="fbs-reasons">{}</ul>',
            format_html_join("", "<li>{}</li>", ((r.get("text", ""),) for r in obj.reasons)),
        )

    # --- Search -----------------------------------------------------------------------------

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = (search_term or "").strip()
        if term.upper().startswith("FBS"):
            order_pk = selectors.claim_number_pk(term.upper().replace("FBS", "CLM", 1))
            if order_pk:
                results |= queryset.filter(order_id=order_pk)
        else:
            pk = selectors.claim_number_pk(term)
            if pk:
                results |= queryset.filter(pk=pk)
        return results, may_have_duplicates

    # --- Decisions --------------------------------------------------------------------------

    def _decision_page(self, request, queryset, *, action, form_class, title, intro, apply):
        """An action's own page: the selected claims and the form; on "apply", run `apply` for
        each claim (through the services) and go back to the list."""
        claims = list(queryset.select_related("affiliate", "order", "line").order_by("pk"))
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid() and apply(request, claims, form):
                return None
        else:
            form = form_class()
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "claims": claims,
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
            "total": sum((c.amount for c in claims), Decimal("0.00")),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/claims/claim/decision_form.html", context)

    def _run(self, request, claims, service, done: str, **kwargs) -> bool:
        succeeded, refused = [], []
        for claim in claims:
            try:
                service(claim_id=claim.pk, user=request.user, **kwargs)
            except DomainError as exc:
                refused.append(exc.message)
            else:
                succeeded.append(claim.number)
        if succeeded:
            self.message_user(request, f"{done}: {', '.join(succeeded)}.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.ERROR)
        return True

    @admin.action(description="Approve… (full amount, or less with a note)", permissions=["change"])
    def approve_claims(self, request, queryset):
        def apply(request, claims, form):
            amount = form.cleaned_data.get("amount")
            if amount is not None and len(claims) > 1:
                form.add_error("amount", "Approve a different amount one claim at a time.")
                return False
            if len(claims) == 1:
                try:
                    services.claim_approve(
                        claim_id=claims[0].pk,
                        user=request.user,
                        amount=amount,
                        note=form.cleaned_data["note"],
                    )
                except DomainError as exc:
                    if exc.field in form.fields and not isinstance(exc, ClaimStatusError):
                        form.add_error(exc.field, exc.message)
                        return False
                    self.message_user(request, exc.message, messages.ERROR)
                    return True
                self.message_user(request, f"Approved: {claims[0].number}.", messages.SUCCESS)
                return True
            return self._run(
                request, claims, services.claim_approve, "Approved", note=form.cleaned_data["note"]
            )

        return self._decision_page(
            request,
            queryset,
            action="approve_claims",
            form_class=ApproveForm,
            title="Approve claims",
            intro="The approved amount is credited to the affiliate at once, and the affiliate "
            "is emailed.",
            apply=apply,
        )

    @admin.action(description="Deny… (a reason is required)", permissions=["change"])
    def deny_claims(self, request, queryset):
        def apply(request, claims, form):
            return self._run(
                request, claims, services.claim_deny, "Denied", reason=form.cleaned_data["reason"]
            )

        return self._decision_page(
            request,
            queryset,
            action="deny_claims",
            form_class=DenyForm,
            title="Deny claims",
            intro="The affiliate is emailed the reason and sees it on the claim.",
            apply=apply,
        )

    @admin.action(description="Ask for more information…", permissions=["change"])
    def request_info(self, request, queryset):
        def apply(request, claims, form):
            return self._run(
                request,
                claims,
                services.claim_request_info,
                "Asked for more information",
                message=form.cleaned_data["message"],
            )

        return self._decision_page(
            request,
            queryset,
            action="request_info",
            form_class=RequestInfoForm,
            title="Ask for more information",
            intro="The affiliate is emailed the question and answers on the claim page. The "
            "review deadline does not move.",
            apply=apply,
        )

    @admin.action(description="Mark paid in one payout batch…", permissions=["pay"])
    def mark_paid(self, request, queryset):
        """A confirmation page that shows exactly what would be paid (the approved claims at
        their approved amounts, counted and totalled per affiliate) and carries the fingerprint
        of that set; confirming pays that set, or, if any claim changed meanwhile, nothing: the
        page is shown again as it is now."""
        ids = list(queryset.values_list("pk", flat=True))
        problem, note = "", ""
        if "apply" in request.POST:
            form = PayoutForm(request.POST)
            note = request.POST.get("note", "")
            if not form.is_valid():
                problem = " ".join(e for errors in form.errors.values() for e in errors)
            else:
                try:
                    batch, skipped = services.claims_mark_paid(
                        claim_ids=ids,
                        user=request.user,
                        note=form.cleaned_data["note"],
                        fingerprint=form.cleaned_data["fingerprint"],
                    )
                except (ClaimPayoutChangedError, LineCompensatedError) as exc:
                    problem = exc.message  # and the page again, as the claims are now
                else:
                    if batch is not None:
                        self.message_user(
                            request,
                            f"Payout batch {batch.pk}: {batch.claim_count} claim(s), "
                            f"${batch.total}, marked paid.",
                            messages.SUCCESS,
                        )
                    if skipped:
                        self.message_user(
                            request,
                            "Not approved, so not paid: "
                            + ", ".join(c.number for c in skipped)
                            + ".",
                            messages.WARNING,
                        )
                    return None
        preview = selectors.payout_preview(claim_ids=ids)
        form = PayoutForm(initial={"note": note, "fingerprint": preview.fingerprint})
        context = {
            **self.admin_site.each_context(request),
            "title": "Mark paid in one payout batch",
            "preview": preview,
            "problem": problem,
            "form": form,
            "selected": ids,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/claims/claim/payout_confirm.html", context)

    # --- Finance: streamed export and the monthly summary -----------------------------------

    def get_urls(self):
        urls = super().get_urls()
        return [
            path(
                "export-csv/",
                self.admin_site.admin_view(self.export_csv_view),
                name="claims_claim_export_csv",
            ),
            path(
                "summary/",
                self.admin_site.admin_view(self.monthly_summary_view),
                name="claims_claim_summary",
            ),
            *urls,
        ]

    def export_csv_view(self, request):
        """Every claim the list's filters select, as CSV streamed while it is read."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        claims = self.get_export_queryset(request)
        response = StreamingHttpResponse(
            exports.claims_csv(claims), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.localtime().strftime("%Y-%m-%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="claims-{stamp}.csv"'
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def monthly_summary_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        claims = self.get_export_queryset(request)
        context = {
            **self.admin_site.each_context(request),
            "title": "Claims by month filed",
            "opts": self.model._meta,
            "rows": selectors.claims_monthly_summary(claims=claims),
            "filters": request.GET.urlencode(),
            "review_days": settings.FBS_CLAIM_REVIEW_DAYS,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/claims/claim/monthly_summary.html", context)


class PayoutClaimInline(admin.TabularInline):
    model = Claim
    fk_name = "payout_batch"
    fields = ("number", "affiliate", "approved_amount", "decided_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PayoutBatch)
class PayoutBatchAdmin(admin.ModelAdmin):
    list_display = ("__str__", "created_at", "created_by", "claim_count", "total", "note")
    readonly_fields = ("created_at", "created_by", "claim_count", "total", "note")
    date_hierarchy = "created_at"
    inlines = [PayoutClaimInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
