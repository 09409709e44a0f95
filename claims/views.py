"""The claims pages of the control panel: the list, filing a claim for a voided line, a claim's
page with its messages, and the receipt download.

Every write goes through claims.services; a refusal (DomainError) is shown next to what it is
about. Another affiliate's claim, line or receipt does not exist here: a 404.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from affiliates.forms import add_domain_error
from affiliates.views import AffiliateRequiredMixin
from claims import eligibility, selectors, services
from claims.forms import ClaimForm, ClaimReplyForm
from claims.models import Claim
from claims.receipts import MAX_RECEIPT_BYTES
from orders.models import OrderLine
from sophio_fbs.errors import DomainError

CLAIMS_PER_PAGE = 50
# Room for the form fields and the multipart framing around a receipt at the limit.
MAX_REQUEST_BYTES = MAX_RECEIPT_BYTES + 256 * 1024


def request_too_large(request) -> bool:
    """Refuse a body over the receipt limit before Django reads (and spools) it."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > MAX_REQUEST_BYTES
    except ValueError:
        return False


def _too_large_message() -> str:
    return (
        f"The file is over the {MAX_RECEIPT_BYTES // 1024 // 1024} MB limit for receipts: "
        "nothing was sent. Scan or save it smaller and try again."
    )


class ClaimListView(AffiliateRequiredMixin, TemplateView):
    template_name = "claims/claim_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        status = self.request.GET.get("status", "")
        if status not in Claim.Status.values:
            status = ""
        claims = selectors.claims_for_affiliate(affiliate=self.affiliate, status=status)
        page = Paginator(claims, CLAIMS_PER_PAGE).get_page(self.request.GET.get("page"))
        claimable = selectors.claimable_lines_for_affiliate(affiliate=self.affiliate)
        context.update(
            page=page,
            claims=page.object_list,
            status=status,
            statuses=Claim.Status.choices,
            claimable_lines=claimable[:10],
            claimable_count=claimable.count(),
            now=timezone.now(),
            limit=settings.FBS_CLAIM_AUTO_APPROVE_LIMIT,
        )
        return context


class ClaimCreateView(AffiliateRequiredMixin, View):
    """/claims/new?line=<id>: the filing form for one voided line; without a line, the voided
    lines that can be claimed, to choose from."""

    template_name = "claims/claim_form.html"
    chooser_template_name = "claims/claim_line_choose.html"

    def _own_line(self, line_id) -> OrderLine:
        try:
            return (
                OrderLine.objects.select_related("order")
                .filter(order__affiliate=self.affiliate)
                .get(pk=int(line_id))
            )
        except (OrderLine.DoesNotExist, TypeError, ValueError) as exc:
            raise Http404("No such line.") from exc

    def _chooser(self, request, problem: str = "", status: int = 200):
        lines = selectors.claimable_lines_for_affiliate(affiliate=self.affiliate)
        context = {"lines": lines[:200], "line_count": lines.count(), "problem": problem}
        return render(request, self.chooser_template_name, context, status=status)

    def _page(self, request, line, form, status=200):
        order = line.order
        context = {
            "form": form,
            "line": line,
            "order": order,
            "preview": eligibility.preview(order=order),
            "limit": settings.FBS_CLAIM_AUTO_APPROVE_LIMIT,
            "review_days": settings.FBS_CLAIM_REVIEW_DAYS,
            "min_stock_needed": eligibility.AUTO_APPROVE_MIN_STOCK,
            "today": timezone.localdate(),
        }
        return render(request, self.template_name, context, status=status)

    def _line_or_response(self, request):
        line_id = request.GET.get("line") or request.POST.get("line")
        if not line_id:
            return None, self._chooser(request)
        line = self._own_line(line_id)
        live = line.claims.filter(status__in=Claim.LIVE).first()
        if live is not None:
            messages.info(request, f"This line already has claim {live.number}.")
            return None, redirect("claims:detail", live.pk)
        if not eligibility.line_is_claimable(line):
            try:
                services._refuse_unless_claimable(line, line.order)
            except DomainError as exc:
                return None, self._chooser(request, problem=exc.message, status=409)
        return line, None

    def get(self, request):
        line, response = self._line_or_response(request)
        if response is not None:
            return response
        return self._page(request, line, ClaimForm())

    def post(self, request):
        if request_too_large(request):
            messages.error(request, _too_large_message())
            return redirect(request.get_full_path())
        line, response = self._line_or_response(request)
        if response is not None:
            return response
        form = ClaimForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                claim = services.claim_file(
                    affiliate=self.affiliate,
                    user=request.user,
                    order_id=line.order_id,
                    line_id=line.pk,
                    supplier_name=data["supplier_name"],
                    purchased_on=data["purchased_on"],
                    amount=data["amount"],
                    receipt=data.get("receipt"),
                )
            except DomainError as exc:
                add_domain_error(form, exc)
            else:
                if claim.status == Claim.Status.APPROVED:
                    messages.success(
                        request,
                        f"Claim {claim.number} is approved: ${claim.approved_amount} is "
                        "credited to your account.",
                    )
                else:
                    due = timezone.localtime(claim.due_at).strftime("%b %-d, %Y")
                    messages.info(
                        request,
                        f"Claim {claim.number} is filed and in review; it will be decided by "
                        f"{due}.",
                    )
                return redirect("claims:detail", claim.pk)
        return self._page(request, line, form, status=400)


class ClaimMixin(AffiliateRequiredMixin):
    def get_claim(self) -> Claim:
        try:
            return selectors.claim_for_affiliate(
                affiliate=self.affiliate, claim_id=self.kwargs["pk"]
            )
        except Claim.DoesNotExist as exc:
            raise Http404("No such claim.") from exc


class ClaimDetailView(ClaimMixin, View):
    template_name = "claims/claim_detail.html"

    def render_page(self, request, claim, reply_form=None, status=200):
        reply_form = reply_form or ClaimReplyForm(has_receipt=bool(claim.receipt))
        context = {
            "claim": claim,
            "reply_form": reply_form,
            "claim_messages": list(claim.messages.all()),
            "overdue": claim.is_overdue(),
            "limit": settings.FBS_CLAIM_AUTO_APPROVE_LIMIT,
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request, pk):
        return self.render_page(request, self.get_claim())


class ClaimReplyView(ClaimDetailView):
    http_method_names = ["post"]

    def post(self, request, pk):
        claim = self.get_claim()
        if request_too_large(request):
            messages.error(request, _too_large_message())
            return redirect("claims:detail", claim.pk)
        form = ClaimReplyForm(request.POST, request.FILES, has_receipt=bool(claim.receipt))
        if form.is_valid():
            try:
                services.claim_reply(
                    affiliate=self.affiliate,
                    claim_id=claim.pk,
                    user=request.user,
                    body=form.cleaned_data["body"],
                    receipt=form.cleaned_data.get("receipt"),
                )
            except Claim.DoesNotExist as exc:
                raise Http404("No such claim.") from exc
            except DomainError as exc:
                if exc.field not in form.fields:
                    # About the claim, not what was typed (e.g. decided meanwhile).
                    messages.error(request, exc.message)
                    return redirect("claims:detail", claim.pk)
                add_domain_error(form, exc)
            else:
                messages.success(request, "Your answer is sent; the review goes on.")
                return redirect(reverse("claims:detail", args=[claim.pk]) + "#messages")
        return self.render_page(request, self.get_claim(), reply_form=form, status=400)


class ReceiptDownloadView(LoginRequiredMixin, View):
    """The receipt, to the affiliate that filed it and to staff who may see claims; a 404 for
    everyone else. Always a download with the type found at upload, never shown inline: a
    receipt is untrusted content even after its checks."""

    def visible_claim(self, request, pk) -> Claim:
        user = request.user
        claims = Claim.objects.all()
        if user.is_staff:
            if not user.has_perm("claims.view_claim"):
                raise Http404("No such receipt.")
        elif user.is_affiliate_user:
            claims = claims.filter(affiliate_id=user.affiliate_id)
        else:
            raise Http404("No such receipt.")
        claim = claims.filter(pk=pk).first()
        if claim is None:
            raise Http404("No such receipt.")
        return claim

    def get(self, request, pk):
        claim = self.visible_claim(request, pk)
        return _receipt_response(claim, f"{claim.number}-receipt")


class MessageReceiptDownloadView(ReceiptDownloadView):
    """A receipt sent with an answer: the same people, the same download."""

    def get(self, request, pk, message_id):
        claim = self.visible_claim(request, pk)
        message = claim.messages.filter(pk=message_id).first()
        if message is None:
            raise Http404("No such receipt.")
        return _receipt_response(message, f"{claim.number}-receipt-{message.pk}")


def _receipt_response(holder, name: str) -> FileResponse:
    """`holder` is a claim or a message with its receipt fields."""
    if not holder.receipt:
        raise Http404("No such receipt.")
    try:
        handle = holder.receipt.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The receipt file is missing.") from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=f"{name}.{holder.receipt_extension}",
        content_type=holder.receipt_content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
