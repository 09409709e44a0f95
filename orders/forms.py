"""Forms of the orders pages. They parse what was typed; the rules (what an order needs, which
lines exist, what qty is allowed) are the services', whose problems are put back on these forms
next to what they are about."""

from django import forms

from affiliates.models import Marketplace

# Empty line rows shown on the New order page; more can be added in the browser.
LINE_ROWS = 5
# The orders.services limit on lines per order, repeated only as the formset's hard stop so a
# tampered TOTAL_FORMS cannot build thousands of forms.
MAX_LINE_ROWS = 100

# What a service problem's `field` names on the order form.
SHIP_TO_FIELDS = ("name", "address1", "address2", "city", "state", "postal_code", "country")


class OrderForm(forms.Form):
    marketplace = forms.ChoiceField(choices=Marketplace.choices)
    marketplace_order_id = forms.CharField(
        label="Marketplace order number",
        max_length=100,
        required=False,
        help_text="The buyer's order number on eBay, Amazon or your site. Each can be sent once.",
    )
    ship_name = forms.CharField(label="Name", max_length=200, required=False)
    ship_address1 = forms.CharField(label="Address", max_length=200, required=False)
    ship_address2 = forms.CharField(
        label="Address line 2", max_length=200, required=False, help_text="Optional."
    )
    ship_city = forms.CharField(label="City", max_length=100, required=False)
    ship_state = forms.CharField(
        label="State",
        max_length=2,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "TX", "autocomplete": "address-level1"}),
    )
    ship_postal_code = forms.CharField(
        label="ZIP code",
        max_length=10,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "postal-code"}),
    )
    ship_country = forms.CharField(
        label="Country",
        max_length=2,
        required=False,
        initial="US",
        help_text="FBS ships to US addresses only.",
    )

    def ship_to(self) -> dict:
        return {name: self.cleaned_data[f"ship_{name}"] for name in SHIP_TO_FIELDS}

    def field_for_problem(self, field: str | None) -> str | None:
        """The form field a service problem's `field` is about, or None for the whole form."""
        if not field:
            return None
        if field in self.fields:
            return field
        if f"ship_{field}" in self.fields:
            return f"ship_{field}"
        return None


class LineForm(forms.Form):
    line_code = forms.CharField(max_length=10, required=False)
    part_number = forms.CharField(max_length=50, required=False)
    qty = forms.IntegerField(
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "inputmode": "numeric"}),
        error_messages={"invalid": "Qty must be a whole number."},
    )

    def as_line(self) -> dict:
        return {
            "line_code": self.cleaned_data["line_code"],
            "part_number": self.cleaned_data["part_number"],
            "qty": self.cleaned_data["qty"],
        }


class BaseLineFormSet(forms.BaseFormSet):
    def filled_forms(self) -> list[LineForm]:
        """The rows something was typed in, in page order: blank rows are ignored."""
        return [form for form in self.forms if form.has_changed()]


LineFormSet = forms.formset_factory(
    LineForm,
    formset=BaseLineFormSet,
    extra=LINE_ROWS,
    max_num=MAX_LINE_ROWS,
    absolute_max=MAX_LINE_ROWS,
    validate_max=True,
)


class CancelRequestForm(forms.Form):
    REASONS = [
        ("", "Choose a reason…"),
        ("Buyer cancelled on the marketplace", "Buyer cancelled on the marketplace"),
        ("Buyer changed their mind", "Buyer changed their mind"),
        ("Sent by mistake or twice", "Sent by mistake or twice"),
        ("Wrong part or address", "Wrong part or address"),
        ("Other", "Other (say below)"),
    ]

    reason = forms.ChoiceField(
        choices=REASONS,
        error_messages={"required": "Choose why you cancel: it is kept on the order's timeline."},
    )
    details = forms.CharField(
        label="Details",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "Optional note for your records"}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("reason") == "Other" and not cleaned.get("details", "").strip():
            self.add_error("details", "Say in a few words why you cancel.")
        return cleaned

    def reason_text(self) -> str:
        reason, details = self.cleaned_data["reason"], self.cleaned_data["details"].strip()
        if reason == "Other":
            return details
        return f"{reason}: {details}" if details else reason


class OrderUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 CSV with the template's header; up to 5 MB and 1,000 orders.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
