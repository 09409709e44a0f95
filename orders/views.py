"""The orders pages of the control panel: Order Management, New order, CSV upload, the order page
with its Supplier menu (Cancel Request), special orders, and the fill rate.

Every write goes through orders.services; a refusal (DomainError) is shown next to what it is
about, and what was typed is shown again.
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views import View
from django.views.generic import TemplateView
from django_htmx.http import HttpResponseClientRefresh

from affiliates.models import Marketplace
from affiliates.selectors import (
    affiliate_default_payment_method,
    affiliate_has_valid_payment_method,
)
from affiliates.views import AffiliateRequiredMixin
from orders import csv_upload, emails, selectors, services
from orders.errors import OrderRefusedError, PaymentMethodMissingError
from orders.forms import CancelRequestForm, LineFormSet, OrderForm, OrderUploadForm
from orders.models import Order, OrderLine
from payments.models import LedgerEntry
from sophio_fbs.errors import DomainError

Status = Order.Status
LineStatus = OrderLine.Status

# Order Management shows 50 orders a page: a busy affiliate's morning fits on one or two.
ORDERS_PER_PAGE = 50
# Statuses whose order has left the queue and is (or was) at a warehouse: Cancel Request can
# only answer "too late" for them.
AT_WAREHOUSE = (Status.PROCESSING, Status.FULFILLED, Status.PARTIALLY_VOIDED)


def _local_time(value) -> str:
    return timezone.localtime(value).strftime("%H:%M %Z") if value else ""


def _add_countdown(order: Order, now) -> Order:
    """What the page shows before its script runs: seconds left in the cancel window, and
    whether Cancel Request is still offered (not once the window has closed)."""
    order.seconds_left = None
    order.offer_cancel = order.status in Order.CANCELLABLE
    if order.status == Status.QUEUED and order.release_at:
        seconds = max(0, int((order.release_at - now).total_seconds()))
        order.seconds_left = seconds
        order.countdown_text = f"{seconds // 60}:{seconds % 60:02d}"
        order.offer_cancel = seconds > 0
    return order


class OrderMixin(AffiliateRequiredMixin):
    """Pages about one order of the logged-in affiliate; another affiliate's order is a 404."""

    def get_order(self) -> Order:
        try:
            return selectors.order_for_affiliate(
                affiliate=self.affiliate, order_id=self.kwargs["pk"]
            )
        except Order.DoesNotExist as exc:
            raise Http404("No such order.") from exc


# --- Order Management --------------------------------------------------------------------------


class OrderListView(AffiliateRequiredMixin, TemplateView):
    template_name = "orders/order_list.html"

    def dispatch(self, request, *args, **kwargs):
        # A refresh after the session ended would swap the login page into the table: reload
        # the whole page instead, which lands on the login page.
        if request.htmx and not request.user.is_authenticated:
            return HttpResponseClientRefresh()
        return super().dispatch(request, *args, **kwargs)

    def get_template_names(self):
        # The table refreshes itself every few seconds: only the table is sent then.
        if self.request.htmx:
            return ["orders/_order_table.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        status = params.get("status", "")
        if status not in Status.values:
            status = ""
        search = params.get("q", "").strip()[:100]
        orders = selectors.orders_for_affiliate(
            affiliate=self.affiliate, status=status, search=search
        )
        page = Paginator(orders, ORDERS_PER_PAGE).get_page(params.get("page"))
        now = timezone.now()
        for order in page:
            _add_countdown(order, now)
        counts = selectors.order_status_counts(affiliate=self.affiliate)
        tabs = [{"value": "", "label": "All", "count": sum(counts.values())}]
        tabs += [
            {"value": value, "label": label, "count": counts.get(value, 0)}
            for value, label in Status.choices
        ]
        context.update(
            page=page,
            orders=page.object_list,
            status=status,
            status_label=Status(status).label if status else "",
            search=search,
            tabs=tabs,
            now=now,
            cancel_form=CancelRequestForm(),
        )
        return context


# --- New order -------------------------------------------------------------------------------


class OrderCreateView(AffiliateRequiredMixin, View):
    template_name = "orders/order_form.html"

    def render_page(self, form, formset, problems=(), status=200):
        context = {
            "form": form,
            "formset": formset,
            "problems": problems,
            "has_valid_payment_method": affiliate_has_valid_payment_method(
                affiliate=self.affiliate
            ),
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request):
        # The first marketplace the affiliate sells on is the likeliest.
        sells_on = [m for m in self.affiliate.marketplaces or [] if m in Marketplace.values]
        form = OrderForm(initial={"marketplace": sells_on[0] if sells_on else Marketplace.EBAY})
        return self.render_page(form, LineFormSet(prefix="lines"))

    def post(self, request):
        form = OrderForm(request.POST)
        formset = LineFormSet(request.POST, prefix="lines")
        if not (form.is_valid() and formset.is_valid()):
            return self.render_page(form, formset)
        filled = formset.filled_forms()
        try:
            order = services.order_place(
                affiliate=self.affiliate,
                user=request.user,
                marketplace=form.cleaned_data["marketplace"],
                marketplace_order_id=form.cleaned_data["marketplace_order_id"],
                ship_to=form.ship_to(),
                lines=[line_form.as_line() for line_form in filled],
            )
        except OrderRefusedError as exc:
            return self.render_page(form, formset, problems=self.place_problems(exc, form, filled))
        except DomainError as exc:
            form.add_error(form.field_for_problem(exc.field), exc.message)
            return self.render_page(form, formset)
        self.say_placed(order)
        return redirect("orders:detail", pk=order.pk)

    @staticmethod
    def place_problems(exc, form, filled) -> list[str]:
        """Put each of the service's problems next to its field or line; return those that
        belong to the order as a whole."""
        general = []
        for problem in exc.problems:
            line, message = problem.get("line"), problem["message"]
            field = form.field_for_problem(problem.get("field"))
            if line and 1 <= line <= len(filled):
                filled[line - 1].add_error(None, message)
            elif field:
                form.add_error(field, message)
            else:
                general.append(message)
        if not exc.problems:
            general.append(exc.message)
        return general

    def say_placed(self, order: Order) -> None:
        if order.status == Status.QUEUED:
            messages.success(
                self.request,
                f"{order.number} is placed and paid (${order.total}). It waits in the queue until "
                f"{_local_time(order.release_at)}: until then Cancel Request can still stop it.",
            )
        elif order.payment_attempts:
            messages.warning(
                self.request,
                f"{order.number} is placed but the charge was declined: it waits for payment. Pay "
                "it below with another method; the stock is not safe while it waits.",
            )
        else:
            messages.warning(
                self.request,
                format_html(
                    "{} is placed but not paid: there is no valid card or PayPal on file. Pay it "
                    "below. Paying orders one at a time can lose you the stock, which other "
                    'affiliates can buy meanwhile: <a href="{}#payment-methods">add a card on '
                    "Settings</a> so orders are paid the moment you send them.",
                    order.number,
                    reverse("affiliates:settings"),
                ),
            )


# --- CSV upload ------------------------------------------------------------------------------


class OrderUploadView(AffiliateRequiredMixin, View):
    template_name = "orders/order_upload.html"

    def render_page(self, form, result=None):
        context = {
            "form": form,
            "result": result,
            "columns": csv_upload.COLUMNS,
            "max_orders": csv_upload.MAX_ORDERS,
        }
        return render(self.request, self.template_name, context)

    def get(self, request):
        return self.render_page(OrderUploadForm())

    def post(self, request):
        form = OrderUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render_page(form)
        try:
            orders = csv_upload.read_orders(form.cleaned_data["file"])
        except csv_upload.UploadError as exc:
            form.add_error("file", f"Nothing was placed. {exc.message}")
            return self.render_page(form)
        result = csv_upload.place_orders(affiliate=self.affiliate, user=request.user, orders=orders)
        return self.render_page(OrderUploadForm(), result=result)


class OrderUploadTemplateView(AffiliateRequiredMixin, View):
    def get(self, request):
        response = HttpResponse(csv_upload.template_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="fbs-orders-template.csv"'
        return response


# --- One order -------------------------------------------------------------------------------


class OrderDetailView(OrderMixin, TemplateView):
    template_name = "orders/order_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        order = _add_countdown(self.get_order(), timezone.now())
        lines = list(order.lines.all())
        for line in lines:
            # A voided line is compensated once: a special order or a claim, not both.
            uncompensated = line.status == LineStatus.VOIDED and not line.compensation
            line.can_special_order = uncompensated and order.status in services.SPECIAL_ORDER_FROM
            line.can_withdraw = line.status == LineStatus.SPECIAL_ORDER
            line.can_claim = uncompensated and line.voided_at is not None
            line.live_claim = (
                line.claims.order_by("-pk").first()
                if line.compensation == OrderLine.Compensation.CLAIM
                else None
            )
        context.update(
            order=order,
            lines=lines,
            ledger_entries=sorted(order.ledger_entries.all(), key=lambda e: (e.created_at, e.pk)),
            events=list(order.events.all()),
            voided_lines=[ln for ln in lines if ln.status == LineStatus.VOIDED],
            special_order_lines=[ln for ln in lines if ln.status == LineStatus.SPECIAL_ORDER],
            at_warehouse=order.status in AT_WAREHOUSE,
            now=timezone.now(),
            cancel_form=CancelRequestForm(),
            buyer_message_too_late=emails.BUYER_MESSAGE_TOO_LATE,
            buyer_message_voided=emails.BUYER_MESSAGE_VOIDED,
            default_payment_method=affiliate_default_payment_method(affiliate=self.affiliate),
        )
        return context


class OrderPayView(OrderMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        order = self.get_order()
        try:
            paid = services.order_pay(order=order, user=request.user)
        except PaymentMethodMissingError as exc:
            messages.error(
                request,
                format_html(
                    '{} <a href="{}#payment-methods">Open Settings</a>.',
                    exc.message,
                    reverse("affiliates:settings"),
                ),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            order.refresh_from_db()
            if paid:
                messages.success(
                    request,
                    f"{order.number} is paid (${order.total}). It waits in the queue until "
                    f"{_local_time(order.release_at)}: until then Cancel Request can still stop "
                    "it.",
                )
            else:
                declined = order.events.filter(kind="payment_declined").order_by("-pk").first()
                reason = declined.message if declined else "The payment was declined."
                messages.error(
                    request,
                    f"{order.number} is not paid. {reason} It still waits for payment: try again "
                    "or make another method the default on Settings.",
                )
        return redirect("orders:detail", pk=order.pk)


class CancelRequestView(OrderMixin, View):
    """GET: the confirmation page (the modal on the list and order pages posts here too).
    POST: the Cancel Request itself; its outcome is shown on the result page."""

    template_name = "orders/cancel_request_form.html"

    def render_page(self, order, form):
        context = {
            "order": _add_countdown(order, timezone.now()),
            "form": form,
            "now": timezone.now(),
            "buyer_message_too_late": emails.BUYER_MESSAGE_TOO_LATE,
        }
        return render(self.request, self.template_name, context)

    def get(self, request, pk):
        order = self.get_order()
        if order.status == Status.CANCELLED:
            messages.info(request, f"{order.number} is already cancelled.")
            return redirect("orders:detail", pk=order.pk)
        return self.render_page(order, CancelRequestForm())

    def post(self, request, pk):
        order = self.get_order()
        form = CancelRequestForm(request.POST)
        if not form.is_valid():
            return self.render_page(order, form)
        try:
            services.order_cancel_request(order=order, user=request.user, reason=form.reason_text())
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("orders:detail", pk=order.pk)
        return redirect("orders:cancel-result", pk=order.pk)


class CancelResultView(OrderMixin, TemplateView):
    """What the Cancel Request did, read back from the order (Post/Redirect/Get: a reload asks
    nothing again). Cancelled, or the timeline holds the request that came too late."""

    template_name = "orders/cancel_request_result.html"

    def get(self, request, *args, **kwargs):
        self.order = self.get_order()
        if self.order.status == Status.CANCELLED:
            self.outcome = services.CANCELLED
        elif any(
            event.kind == "cancel_request" and event.data.get("outcome") == services.TOO_LATE
            for event in self.order.events.all()
        ):
            self.outcome = services.TOO_LATE
        else:
            return redirect("orders:detail", pk=self.order.pk)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        order = self.order
        refunds = [e for e in order.ledger_entries.all() if e.kind == LedgerEntry.Kind.REFUND]
        context.update(
            order=order,
            outcome=self.outcome,
            refund=refunds[0] if refunds else None,
            buyer_message_too_late=emails.BUYER_MESSAGE_TOO_LATE,
        )
        return context


class LineActionView(OrderMixin, View):
    """A POST about one line of one order: the line must be this order's, or it is a 404."""

    http_method_names = ["post"]

    def post(self, request, pk, line_id):
        order = self.get_order()
        line = next((ln for ln in order.lines.all() if ln.pk == line_id), None)
        if line is None:
            raise Http404("No such line.")
        try:
            self.act(order, line)
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect(reverse("orders:detail", kwargs={"pk": order.pk}) + "#lines")


class SpecialOrderRequestView(LineActionView):
    def act(self, order, line):
        services.order_special_order_request(order=order, line_id=line.pk, user=self.request.user)
        messages.success(
            self.request,
            f"{line.line_code} {line.part_number} is now a special order: it stays open until "
            f"stock appears. Then ${line.line_total} is charged again and the part ships.",
        )


class SpecialOrderWithdrawView(LineActionView):
    def act(self, order, line):
        services.order_special_order_withdraw(order=order, line_id=line.pk, user=self.request.user)
        messages.success(
            self.request,
            f"Special order for {line.line_code} {line.part_number} withdrawn: the line stays "
            "voided and refunded.",
        )


# --- Fill rate -------------------------------------------------------------------------------


class FillRateView(AffiliateRequiredMixin, TemplateView):
    template_name = "orders/fill_rate_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        by_month = selectors.fill_rate(affiliate=self.affiliate, group_by="month")
        by_year = selectors.fill_rate(affiliate=self.affiliate, group_by="year")
        context.update(
            by_month=by_month,
            by_year=by_year,
            # The chart shows the last two years of months; the table below has them all.
            chart_months=by_month[-24:],
        )
        return context
