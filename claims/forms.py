"""Forms of the claims pages and of the admin decisions. They parse what was typed; the rules
(which lines can be claimed, dates, amounts, receipts, decisions) are claims.services', whose
refusals are put back on these forms next to what they are about."""

from django import forms

from claims.receipts import MAX_RECEIPT_BYTES

RECEIPT_ACCEPT = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"


class ClaimForm(forms.Form):
    supplier_name = forms.CharField(
        label="Supplier",
        max_length=200,
        help_text="Who you bought the part from, e.g. the local dealer's name.",
    )
    purchased_on = forms.DateField(
        label="Purchase date",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="On or after the order date, and not in the future.",
    )
    amount = forms.DecimalField(
        label="Amount paid ($)",
        max_digits=10,
        decimal_places=2,
        min_value=0,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"}),
        help_text="What you paid the supplier for this line, as on the receipt.",
    )
    receipt = forms.FileField(
        label="Receipt",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": RECEIPT_ACCEPT}),
        help_text=(
            f"A PDF, JPEG or PNG of the supplier's receipt, at most "
            f"{MAX_RECEIPT_BYTES // 1024 // 1024} MB. Without one, the claim needs a review."
        ),
    )


class ClaimReplyForm(forms.Form):
    body = forms.CharField(
        label="Your answer",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    receipt = forms.FileField(
        label="Receipt",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": RECEIPT_ACCEPT}),
        help_text="Attach the receipt here if the claim was filed without one.",
    )

    def __init__(self, *args, has_receipt: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if has_receipt:
            # Answering "needs information": a new receipt may come with the answer.
            self.fields["receipt"].label = "New receipt (optional)"
            self.fields["receipt"].help_text = (
                "If the reviewer asked for another receipt, attach it here: a PDF, JPEG or PNG "
                f"of at most {MAX_RECEIPT_BYTES // 1024 // 1024} MB, checked like the first, "
                "which stays on the claim."
            )


# --- Admin decisions (the intermediate pages of the actions) ----------------------------------


class ApproveForm(forms.Form):
    amount = forms.DecimalField(
        label="Amount to approve ($)",
        required=False,
        max_digits=10,
        decimal_places=2,
        help_text="Leave empty to approve the full amount claimed. Less than claimed needs a note.",
    )
    note = forms.CharField(
        label="Note to the affiliate",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


class DenyForm(forms.Form):
    reason = forms.CharField(
        label="Reason (the affiliate reads it)",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


class RequestInfoForm(forms.Form):
    message = forms.CharField(
        label="What the affiliate should send or explain",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
    )


class PayoutForm(forms.Form):
    # The fingerprint of the claims the confirmation page showed (selectors.payout_fingerprint).
    fingerprint = forms.CharField(widget=forms.HiddenInput, max_length=64)
    note = forms.CharField(
        label="Payout reference (optional)",
        required=False,
        max_length=255,
        help_text="E.g. the bank transfer or PayPal batch this payout went out with.",
    )
