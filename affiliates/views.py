from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from affiliates import selectors, services
from affiliates.forms import AccountForm, ApiKeyForm, CardForm, PaypalForm, add_domain_error
from orders import selectors as order_selectors
from sophio_fbs.errors import DomainError


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        # Staff work in admin; affiliates in the control panel.
        if self.request.user.is_staff:
            return reverse("admin:index")
        return super().get_default_redirect_url()


class AffiliateRequiredMixin(LoginRequiredMixin):
    """Control-panel pages act for the logged-in user's affiliate, and only for it."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if request.user.is_staff and not request.user.affiliate_id:
            return redirect("admin:index")
        if not request.user.is_affiliate_user:
            raise PermissionDenied("This page is for affiliate accounts.")
        self.affiliate = request.user.affiliate
        return super().dispatch(request, *args, **kwargs)


class DashboardView(AffiliateRequiredMixin, TemplateView):
    template_name = "affiliates/dashboard_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["default_payment_method"] = selectors.affiliate_default_payment_method(
            affiliate=self.affiliate
        )
        context["has_valid_payment_method"] = selectors.affiliate_has_valid_payment_method(
            affiliate=self.affiliate
        )
        counts = order_selectors.order_status_counts(affiliate=self.affiliate)
        context["order_counts"] = counts
        context["orders_total"] = sum(counts.values())
        context["fill_rate_this_year"] = order_selectors.fill_rate_this_year(
            affiliate=self.affiliate
        )
        return context


class SettingsView(AffiliateRequiredMixin, View):
    """The Settings page: account and min stock, payment methods on file, API keys. Each form
    posts to its own URL; on an error the page is shown again with that form's errors."""

    template_name = "affiliates/settings_detail.html"

    def render_page(self, status=200, **forms):
        affiliate = self.affiliate
        context = {
            "account_form": AccountForm(
                initial={
                    "name": affiliate.name,
                    "contact_email": affiliate.contact_email,
                    "min_stock": affiliate.min_stock,
                    "marketplaces": affiliate.marketplaces,
                },
                prefix="account",
            ),
            "card_form": CardForm(prefix="card"),
            "paypal_form": PaypalForm(prefix="paypal"),
            "api_key_form": ApiKeyForm(prefix="key"),
            "payment_methods": selectors.payment_methods_for_affiliate(affiliate=affiliate),
            "api_keys": selectors.api_keys_for_affiliate(affiliate=affiliate),
        }
        context.update(forms)
        return render(self.request, self.template_name, context, status=status)

    def get(self, request):
        return self.render_page()


class SettingsActionView(SettingsView):
    http_method_names = ["post"]


class AccountUpdateView(SettingsActionView):
    def post(self, request):
        form = AccountForm(request.POST, prefix="account")
        if form.is_valid():
            try:
                services.affiliate_update(affiliate=self.affiliate, **form.cleaned_data)
            except DomainError as exc:
                add_domain_error(form, exc)
            else:
                messages.success(request, "Account settings saved.")
                return redirect("affiliates:settings")
        return self.render_page(account_form=form)


class CardAddView(SettingsActionView):
    def post(self, request):
        form = CardForm(request.POST, prefix="card")
        if form.is_valid():
            exp_month, exp_year = form.cleaned_data["expiry"]
            try:
                method = services.payment_method_add_card(
                    affiliate=self.affiliate,
                    number=form.cleaned_data["number"],
                    exp_month=exp_month,
                    exp_year=exp_year,
                    make_default=form.cleaned_data["make_default"],
                )
            except DomainError as exc:
                add_domain_error(form, exc)
            else:
                messages.success(request, f"Card added: {method.masked}.")
                return redirect("affiliates:settings")
        # Never send the card number back to the browser.
        form.data = form.data.copy()
        form.data["card-number"] = ""
        return self.render_page(card_form=form)


class PaypalAddView(SettingsActionView):
    def post(self, request):
        form = PaypalForm(request.POST, prefix="paypal")
        if form.is_valid():
            try:
                method = services.payment_method_add_paypal(
                    affiliate=self.affiliate,
                    email=form.cleaned_data["email"],
                    make_default=form.cleaned_data["make_default"],
                )
            except DomainError as exc:
                add_domain_error(form, exc)
            else:
                messages.success(request, f"{method.masked} added.")
                return redirect("affiliates:settings")
        return self.render_page(paypal_form=form)


class PaymentMethodDefaultView(SettingsActionView):
    def post(self, request, pk):
        method = get_object_or_404(self.affiliate.payment_methods, pk=pk)
        try:
            services.payment_method_set_default(
                affiliate=self.affiliate, payment_method_id=method.pk
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{method.masked} is now the default.")
        return redirect("affiliates:settings")


class PaymentMethodRemoveView(SettingsActionView):
    def post(self, request, pk):
        method = get_object_or_404(self.affiliate.payment_methods, pk=pk)
        services.payment_method_remove(affiliate=self.affiliate, payment_method_id=method.pk)
        messages.success(request, f"{method.masked} removed.")
        return redirect("affiliates:settings")


class ApiKeyCreateView(SettingsActionView):
    def post(self, request):
        form = ApiKeyForm(request.POST, prefix="key")
        if not form.is_valid():
            return self.render_page(api_key_form=form)
        key, raw = services.api_key_create(user=request.user, name=form.cleaned_data["name"])
        # Shown in this response only: the key is not stored anywhere it could be shown again.
        response = self.render_page(new_api_key=raw, new_api_key_name=key.name)
        response["Cache-Control"] = "no-store"
        return response


class ApiKeyRevokeView(SettingsActionView):
    def post(self, request, pk):
        key = get_object_or_404(self.affiliate.api_keys, pk=pk)
        services.api_key_revoke(affiliate=self.affiliate, api_key_id=key.pk)
        messages.success(request, f"API key “{key.name}” revoked.")
        return redirect("affiliates:settings")
