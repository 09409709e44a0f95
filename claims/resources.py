"""The claims export in admin (django-import-export: CSV and XLSX), with the columns Finance
reconciles payouts with. Only export: claims are never imported.

Spreadsheet formulas are escaped in every cell by SpreadsheetSafeResource (the rule of
sophio_fbs.spreadsheets, shared with the streamed export), whatever the settings.
"""

from import_export import fields, resources, widgets

from claims.exports import DATETIME_FORMAT, HEADERS
from claims.models import Claim
from sophio_fbs.spreadsheets import SpreadsheetSafeResource


class ClaimResource(SpreadsheetSafeResource, resources.ModelResource):
    id = fields.Field(attribute="id", column_name="id", widget=widgets.IntegerWidget())
    affiliate = fields.Field(attribute="affiliate__name", column_name="affiliate")
    order = fields.Field(attribute="order__number", column_name="order")
    part = fields.Field(column_name="part")
    supplier = fields.Field(attribute="supplier_name", column_name="supplier")
    purchased_on = fields.Field(
        attribute="purchased_on", column_name="purchased_on", widget=widgets.DateWidget("%Y-%m-%d")
    )
    amount = fields.Field(attribute="amount", column_name="amount", widget=widgets.DecimalWidget())
    approved_amount = fields.Field(
        attribute="approved_amount", column_name="approved_amount", widget=widgets.DecimalWidget()
    )
    status = fields.Field(attribute="get_status_display", column_name="status")
    auto_approved = fields.Field(column_name="auto_approved")
    filed = fields.Field(
        attribute="created_at", column_name="filed", widget=widgets.DateTimeWidget(DATETIME_FORMAT)
    )
    due = fields.Field(
        attribute="due_at", column_name="due", widget=widgets.DateTimeWidget(DATETIME_FORMAT)
    )
    decided = fields.Field(
        attribute="decided_at",
        column_name="decided",
        widget=widgets.DateTimeWidget(DATETIME_FORMAT),
    )
    paid = fields.Field(
        attribute="paid_at", column_name="paid", widget=widgets.DateTimeWidget(DATETIME_FORMAT)
    )
    payout_batch = fields.Field(attribute="payout_batch_id", column_name="payout_batch")

    class Meta:
        model = Claim
        # The same columns, in the same order, as the streamed export.
        fields = HEADERS
        export_order = fields
        import_id_fields = ("id",)

    def dehydrate_part(self, claim: Claim) -> str:
        return f"{claim.line.line_code} {claim.line.part_number}"

    def dehydrate_auto_approved(self, claim: Claim) -> str:
        return "yes" if claim.auto_approved else "no"
