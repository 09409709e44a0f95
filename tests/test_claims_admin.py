"""Claims in admin: Support's work list and decisions through their own pages, Finance's payout
batches, exports (import-export CSV/XLSX and the streamed CSV) with formulas escaped, and the
monthly summary. Permissions come from the groups' data migration."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from affiliates.models import Affiliate
from claims import services
from claims.models import Claim
from claims.resources import ClaimResource
from tests.factories import StaffFactory
from tests.test_claims_helpers import (
    clock_at,
    file_claim,
    png_bytes,
    upload,
    use_private_storage,
    voided_line,
)

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


LIST = "/admin/claims/claim/"
EXPORT_FIELDS = ClaimResource().get_export_order()


def in_review(amount="60.00", number="M-1", now=None, **kwargs):
    with clock_at(now):
        user, _, line = voided_line(min_stock=2, number=number)
        return file_claim(user, line, amount=amount, now=now, **kwargs)


@pytest.fixture
def support(client):
    staff = StaffFactory(group="Support", username="sam")
    client.force_login(staff)
    return staff


@pytest.fixture
def finance(client):
    staff = StaffFactory(group="Finance", username="fay")
    client.force_login(staff)
    return staff


def run_action(client, action, *claims, **form):
    """Pick the action on the list (its own page opens), then, with `form`, apply it."""
    selected = [c.pk for c in claims]
    page = client.post(LIST, {"action": action, "_selected_action": selected, "index": 0})
    if not form:
        return page
    return client.post(
        LIST, {"action": action, "_selected_action": selected, "apply": "1", **form}, follow=True
    )


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- The work list --------------------------------------------------------------------------------


def test_admin_claims_list_is_sorted_by_due_date_with_the_overdue_filter(client, support):
    now = timezone.now()
    recent = in_review(number="M-1", now=now - timedelta(days=1))
    overdue = in_review(number="M-2", now=now - timedelta(days=40))
    middle = in_review(number="M-3", now=now - timedelta(days=20))

    page = client.get(LIST)
    assert page.status_code == 200
    assert [c.pk for c in page.context["cl"].result_list] == [overdue.pk, middle.pk, recent.pk]
    assert "(overdue)" in page.content.decode()

    page = client.get(LIST + "?deadline=overdue")
    assert [c.pk for c in page.context["cl"].result_list] == [overdue.pk]


def test_admin_claims_filters_duplicate_receipt_and_filed_range(client, support):
    now = timezone.now()
    same = png_bytes(color="gray")
    first = in_review(number="M-1", now=now - timedelta(days=10), receipt=upload("a.png", same))
    second = in_review(number="M-2", now=now, receipt=upload("b.png", same))

    page = client.get(LIST + "?receipt=duplicate")
    assert [c.pk for c in page.context["cl"].result_list] == [second.pk]
    day = timezone.localdate(first.created_at).isoformat()
    page = client.get(LIST + f"?filed_from={day}&filed_to={day}")
    assert [c.pk for c in page.context["cl"].result_list] == [first.pk]


def test_admin_claims_search_by_claim_and_order_number(client, support):
    claim = in_review()
    in_review(number="M-2")

    page = client.get(LIST + f"?q={claim.number}")
    assert [c.pk for c in page.context["cl"].result_list] == [claim.pk]
    page = client.get(LIST + f"?q={claim.order.number}")
    assert [c.pk for c in page.context["cl"].result_list] == [claim.pk]


def test_admin_claim_page_is_read_only_with_receipt_link_reasons_and_decisions(client, support):
    claim = in_review()

    page = client.get(f"{LIST}{claim.pk}/change/")

    html = page.content.decode()
    assert page.status_code == 200
    assert f'href="/claims/{claim.pk}/receipt"' in html
    assert claim.reasons[0]["text"] in html
    assert 'name="_save"' not in html
    assert 'value="approve_claims"' in html
    assert 'value="request_info"' in html


# --- Decisions through their own pages ------------------------------------------------------------


def test_admin_approve_goes_through_its_page_for_amount_and_note(
    client, support, mailoutbox, django_capture_on_commit_callbacks
):
    claim = in_review("60.00")

    page = run_action(client, "approve_claims", claim)
    assert page.status_code == 200
    assert "Amount to approve" in page.content.decode()
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.IN_REVIEW

    refused = client.post(LIST, {"action": "approve_claims", "_selected_action": [claim.pk],
                                 "apply": "1", "amount": "45.00", "note": ""})  # fmt: skip
    assert refused.status_code == 200
    assert "needs a note" in refused.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        done = run_action(client, "approve_claims", claim, amount="45.00", note="No rush fee.")
    assert f"Approved: {claim.number}." in messages_of(done)
    claim.refresh_from_db()
    assert (claim.status, claim.approved_amount, claim.decided_by) == (
        Claim.Status.APPROVED, Decimal("45.00"), support,
    )  # fmt: skip
    assert mailoutbox[-1].subject == f"{claim.number} approved: $45.00"


def test_admin_deny_needs_a_reason(client, support):
    claim = in_review()

    empty = client.post(LIST, {"action": "deny_claims", "_selected_action": [claim.pk],
                               "apply": "1", "reason": ""})  # fmt: skip
    assert "This field is required" in empty.content.decode()
    done = run_action(client, "deny_claims", claim, reason="Receipt is for another part.")

    assert f"Denied: {claim.number}." in messages_of(done)
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.DENIED


def test_admin_ask_for_more_information(client, support):
    claim = in_review()

    run_action(client, "request_info", claim, message="Send the invoice with the part number.")

    claim.refresh_from_db()
    assert claim.status == Claim.Status.NEEDS_INFO
    assert claim.messages.get().body == "Send the invoice with the part number."


def test_admin_deciding_a_claim_decided_meanwhile_says_so_and_changes_nothing(client, support):
    claim = in_review()
    services.claim_deny(claim_id=claim.pk, user=StaffFactory(username="olga"), reason="No.")

    done = run_action(client, "approve_claims", claim, amount="", note="")

    assert any("already denied by olga" in m for m in messages_of(done))
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.DENIED


def test_admin_finance_cannot_decide_and_support_cannot_pay_or_export(client, finance):
    claim = in_review()

    page = client.get(LIST)
    actions = [value for value, _ in page.context["action_form"].fields["action"].choices]
    assert "mark_paid" in actions
    assert "approve_claims" not in actions
    client.force_login(StaffFactory(group="Support"))
    page = client.get(LIST)
    actions = [value for value, _ in page.context["action_form"].fields["action"].choices]
    assert "approve_claims" in actions
    assert "mark_paid" not in actions
    assert client.get(LIST + "export/").status_code == 403
    assert client.get(LIST + "export-csv/").status_code == 403
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.IN_REVIEW


# --- Finance: payouts -----------------------------------------------------------------------------


def test_admin_mark_paid_makes_one_batch(client, finance):
    user, _, line = voided_line()
    first = file_claim(user, line, amount="30.00")
    user2, _, line2 = voided_line(number="M-2")
    second = file_claim(user2, line2, amount="20.00")
    pending = in_review(number="M-3")

    page = run_action(client, "mark_paid", first, second, pending)
    assert "$50.00" in page.content.decode()
    fingerprint = page.context["preview"].fingerprint
    done = run_action(
        client, "mark_paid", first, second, pending, note="ACH 77", fingerprint=fingerprint
    )

    assert any("2 claim(s), $50.00, marked paid" in m for m in messages_of(done))
    assert any(pending.number in m for m in messages_of(done))
    assert set(Claim.objects.filter(status="paid").values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }


# --- Exports --------------------------------------------------------------------------------------


HOSTILE_SUPPLIERS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "Plain Dealer"]
ESCAPED_SUPPLIERS = {"'" + s if s[0] in "=+-@" else s for s in HOSTILE_SUPPLIERS}


@pytest.fixture
def hostile_claims():
    """Claims whose text cells a spreadsheet would run. (Leading tabs and line breaks never
    reach a supplier name: the service folds whitespace; an affiliate name can carry one.)"""
    made = [
        in_review(number=f"M-{n}", supplier_name=supplier)
        for n, supplier in enumerate(HOSTILE_SUPPLIERS, start=1)
    ]
    Affiliate.objects.filter(pk=made[0].affiliate_id).update(name="\t=1+2")
    Affiliate.objects.filter(pk=made[1].affiliate_id).update(name="\r@cmd")
    return made


def test_streamed_csv_export_has_finance_columns_and_escapes_formulas(
    client, finance, hostile_claims
):
    response = client.get(LIST + "export-csv/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="claims-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["id", "affiliate", "order", "part", "supplier", "purchased_on", "amount",
                       "approved_amount", "status", "auto_approved", "filed", "due", "decided",
                       "paid", "payout_batch"]  # fmt: skip
    assert {row[4] for row in rows[1:]} == ESCAPED_SUPPLIERS
    assert {"'\t=1+2", "'\r@cmd"} <= {row[1] for row in rows[1:]}
    first = next(row for row in rows[1:] if row[0] == str(hostile_claims[0].pk))
    assert first[2] == hostile_claims[0].order.number
    assert first[3] == "ACD P1"
    assert (first[6], first[7], first[8], first[9]) == ("60.00", "", "In review", "no")


def test_streamed_csv_export_follows_the_list_filters(client, finance):
    keep = in_review(number="M-1")
    drop = in_review(number="M-2")
    services.claim_deny(claim_id=drop.pk, user=None, reason="No.")

    response = client.get(LIST + "export-csv/?status__exact=in_review")

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[0] for row in rows[1:]] == [str(keep.pk)]


def export_post(client, fmt: int, query: str = ""):
    data = {"resource": "0", "format": str(fmt)}
    data.update({f"claimresource_{name}": "on" for name in EXPORT_FIELDS})
    return client.post(LIST + "export/" + query, data)


def test_import_export_csv_export_escapes_formulas(client, finance, hostile_claims):
    assert client.get(LIST + "export/").status_code == 200

    response = export_post(client, 0)  # CSV

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {row["supplier"] for row in rows} == ESCAPED_SUPPLIERS
    assert {"'\t=1+2", "'\r@cmd"} <= {row["affiliate"] for row in rows}
    assert {row["status"] for row in rows} == {"In review"}
    assert {row["amount"] for row in rows} == {"60.00"}


def test_import_export_xlsx_export_escapes_formulas_and_keeps_numbers(
    client, finance, hostile_claims
):
    from openpyxl import load_workbook

    response = export_post(client, 1)  # XLSX

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    supplier = header.index("supplier")
    amount = header.index("amount")
    rows = list(sheet.iter_rows(min_row=2))
    assert all(cell.data_type != "f" for row in rows for cell in row)
    assert {row[supplier].value for row in rows} == ESCAPED_SUPPLIERS
    assert {row[amount].value for row in rows} == {60}


def test_monthly_summary_page(client, finance):
    in_review(now=timezone.now() - timedelta(days=40), number="M-1")
    in_review(number="M-2")

    page = client.get(LIST + "summary/")

    assert page.status_code == 200
    rows = page.context["rows"]
    assert sum(r.filed for r in rows) == 2
    assert "Claims by month filed" in page.content.decode()


def test_payout_batches_are_listed_for_finance(client, finance):
    user, _, line = voided_line()
    claim = file_claim(user, line)
    batch, _ = services.claims_mark_paid(claim_ids=[claim.pk], user=finance)

    assert client.get("/admin/claims/payoutbatch/").status_code == 200
    page = client.get(f"/admin/claims/payoutbatch/{batch.pk}/change/")
    assert claim.number in page.content.decode()
