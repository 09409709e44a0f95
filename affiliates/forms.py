from django import forms

from affiliates.models import MIN_STOCK_FLOOR, MIN_STOCK_MAX, Marketplace
from affiliates.services import parse_card_expiry
from sophio_fbs.errors import DomainError


def add_domain_error(form: forms.Form, exc: DomainError) -> None:
    """Show a service's refusal on the field it is about, or on the form as a whole."""
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


class AccountForm(forms.Form):
    name = forms.CharField(label="Company name", max_length=200)
    contact_email = forms.EmailField()
    min_stock = forms.IntegerField(
        min_value=MIN_STOCK_FLOOR,
        max_value=MIN_STOCK_MAX,
        help_text=(
            "You see and sell only items with at least this many available. Set it to 3 or more "
            "to have second-sourcing costs of up to $100 covered without approval."
        ),
        error_messages={
            "min_value": f"Min stock must be {MIN_STOCK_FLOOR} or more.",
            "max_value": f"Min stock must be {MIN_STOCK_MAX} or less.",
            "invalid": "Min stock must be a whole number.",
        },
    )
    marketplaces = forms.MultipleChoiceField(
        choices=Marketplace.choices, widget=forms.CheckboxSelectMultiple, required=False
    )


class CardForm(forms.Form):
    number = forms.CharField(
        label="Card number",
        max_length=23,
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    expiry = forms.CharField(
        label="Expiry (MM/YY)",
        max_length=7,
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp", "placeholder": "MM/YY"}),
    )
    make_default = forms.BooleanField(label="Make this the default", required=False)

    def clean_expiry(self):
        try:
            return parse_card_expiry(self.cleaned_data["expiry"])
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc


class PaypalForm(forms.Form):
    email = forms.EmailField(label="PayPal account email")
    make_default = forms.BooleanField(label="Make this the default", required=False)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Key name",
        max_length=100,
        help_text="What the key is for, e.g. 'eBay listing tool'.",
    )
