"""No export hands a spreadsheet a formula (issue 11, item 11; OWASP "CSV Injection").

Every CSV and XLSX we produce goes through sophio_fbs.spreadsheets: the claims exports (streamed
CSV, import-export CSV and XLSX), the affiliate's feed download and /api/v1/catalog.csv, and the
order upload template. Hypothesis throws any text at each, with the starts spreadsheets run
(=, +, -, @, tab, CR, LF, after spaces or invisible characters, in full-width forms, behind
apostrophes), and checks what a spreadsheet would make of the cell: never a formula, the original
text when read back by the one documented rule, numbers untouched.
"""

import csv
import importlib
import io
import re
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from import_export.formats.base_formats import CSV, XLSX
from import_export.resources import Resource
from openpyxl import load_workbook

from affiliates.models import Affiliate
from claims.exports import claims_csv
from claims.models import Claim
from claims.resources import ClaimResource
from inventory.models import Item
from inventory.selectors import catalog_csv
from orders import csv_upload
from sophio_fbs.spreadsheets import (
    SpreadsheetSafeResource,
    is_plain_number,
    spreadsheet_safe,
    spreadsheet_unescape,
)
from tests.factories import StaffFactory, UserFactory, import_feed, make_api_key
from tests.test_claims_helpers import file_claim, use_private_storage, voided_line

BASE_DIR = Path(__file__).resolve().parent.parent
OUR_APPS = ("affiliates", "payments", "inventory", "orders", "claims", "sophio_fbs")

# --- What a spreadsheet makes of a cell (the test's own, stricter model) ------------------------

TRIGGERS = "=+-@"
# Compatibility forms that fold into a trigger (NFKC), and what can stand invisibly before one.
LOOKALIKES = ["\uff1d", "\ufe66", "\u207c", "\u208c", "\uff0b", "\ufe62", "\u207a", "\uff0d"]
LOOKALIKES += ["\ufe63", "\u208b", "\uff20", "\ufe6b"]
INVISIBLE = [" ", "\t", "\r", "\n", "\u00a0", "\u200b", "\u200e", "\ufeff", "\u2028", "\u3000"]
INVISIBLE += ["\x0b", "\x0c", "\x1f", "\u180e"]
OUR_NUMBER = re.compile(r"[+-]?[\d.,]*\d[\d.,]*(?:[eE][+-]?\d+)?", re.ASCII)


def _starts(text: str) -> list[str]:
    """Every way a spreadsheet or an import step could see the start of this cell: as written,
    trimmed of whitespace, trimmed of every invisible character, folded by NFKC."""
    stripped = text
    while stripped and (
        stripped[0].isspace() or unicodedata.category(stripped[0]) in ("Zs", "Zl", "Zp", "Cc", "Cf")
    ):
        stripped = stripped[1:]
    views = [text, text.strip(), stripped, unicodedata.normalize("NFKC", stripped)]
    return [view for view in views if view]


def read_as_formula(cell: str) -> bool:
    if not cell or cell.startswith("'"):
        return False  # the apostrophe marks the cell as text
    if cell[0] in "\t\r\n":
        return True
    return any(view[0] in TRIGGERS and not OUR_NUMBER.fullmatch(view) for view in _starts(cell))


def hostile_text():
    """Any text, and above all the kinds that start a formula."""
    start = st.lists(st.sampled_from(["'", *INVISIBLE]), max_size=3).map("".join)
    sign = st.sampled_from([*TRIGGERS, *LOOKALIKES, ""])
    rest = st.text(max_size=20)
    return st.one_of(
        st.text(),
        st.builds(lambda a, b, c: a + b + c, start, sign, rest),
        st.builds(
            lambda s, d: s + str(d),
            st.sampled_from(["", "+", "-", "=", "@"]),
            st.decimals(allow_nan=False, allow_infinity=False),
        ),
    )


def db_text():
    """Text a database column holds: PostgreSQL refuses NUL in text."""
    return hostile_text().map(lambda t: t.replace("\x00", ""))


def check_cell(cell, original) -> None:
    """The exported cell of `original`: no formula, the original text when read back, and a
    plain number left exactly as it was."""
    assert not read_as_formula(cell), (original, cell)
    assert spreadsheet_unescape(cell) == original, (original, cell)
    if is_plain_number(original):
        assert cell == original


# --- The rule itself -----------------------------------------------------------------------------


@given(hostile_text())
@example('=HYPERLINK("http://x","y")')
@example("+1+1")
@example("-2+3")
@example("@SUM(A1)")
@example("\t=1+2")
@example("\r@cmd")
@example("\n=1")
@example(" =1+1")
@example("\u200b=1")
@example("\ufeff-1+1")
@example("\uff1d1+1")
@example("'=1+1")
@example("''@A1")
@example("-")
@example("-Infinity")
@example("-1e5+2")
def test_spreadsheet_safe_text_is_never_a_formula_and_reads_back(text):
    check_cell(spreadsheet_safe(text), text)


@given(
    st.one_of(
        st.integers(),
        st.decimals(allow_nan=False, allow_infinity=False),
        st.floats(allow_nan=False, allow_infinity=False),
        st.none(),
        st.booleans(),
    )
)
def test_spreadsheet_safe_leaves_numbers_alone(number):
    assert spreadsheet_safe(number) is number


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2))
@example(Decimal("-5.00"))
@example(Decimal("1250.00"))
def test_spreadsheet_safe_leaves_plain_number_text_alone(number):
    texts = [f"{number}", f"{number:,}", f"{number:.3e}"]
    if number >= 0:
        texts += [f"+{number}", f"+{number:,}"]
    for text in texts:
        assert spreadsheet_safe(text) == text
        # and a spreadsheet still reads the number it was
        expected = Decimal(f"{number:.3e}") if "e" in text else number
        assert Decimal(text.replace(",", "")) == expected


def test_spreadsheet_safe_leaves_ordinary_text_alone():
    for text in ("Main St Dealer", "ACD BP-1001", "O'Reilly Auto", "5W-30 oil", "", "Ürün"):
        assert spreadsheet_safe(text) == text


# --- The claims exports --------------------------------------------------------------------------

HYPOTHESIS_DB = hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


@pytest.fixture
def one_claim(db, private_storage):
    user, _, line = voided_line()
    return file_claim(user, line, amount="60.00")


def _set_claim_texts(claim, supplier: str, affiliate: str) -> None:
    Claim.objects.filter(pk=claim.pk).update(supplier_name=supplier)
    Affiliate.objects.filter(pk=claim.affiliate_id).update(name=affiliate)


@pytest.mark.django_db
@HYPOTHESIS_DB
@given(supplier=db_text(), affiliate=db_text())
def test_claims_streamed_csv_cells_are_never_formulas(one_claim, supplier, affiliate):
    _set_claim_texts(one_claim, supplier, affiliate)

    text = "".join(claims_csv(Claim.objects.all()))

    header, row = list(csv.reader(io.StringIO(text, newline="")))
    cells = dict(zip(header, row, strict=True))
    check_cell(cells["supplier"], supplier)
    check_cell(cells["affiliate"], affiliate)
    assert cells["amount"] == "60.00"


@pytest.mark.django_db
@HYPOTHESIS_DB
@given(supplier=db_text(), affiliate=db_text())
def test_claims_import_export_csv_cells_are_never_formulas(one_claim, supplier, affiliate):
    _set_claim_texts(one_claim, supplier, affiliate)

    data = CSV().export_data(ClaimResource().export(Claim.objects.all()))

    header, row = list(csv.reader(io.StringIO(data, newline="")))
    cells = dict(zip(header, row, strict=True))
    check_cell(cells["supplier"], supplier)
    check_cell(cells["affiliate"], affiliate)
    assert cells["amount"] == "60.00"


# openpyxl refuses these control characters in a cell; the export replaces them (settings).
XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _xml_read_back(text: str) -> str:
    # An XLSX is XML: a reader turns CR LF and a lone CR into LF.
    return (
        XLSX_ILLEGAL.sub("\N{REPLACEMENT CHARACTER}", text)
        .replace("\r\n", "\n")
        .replace("\r", "\n")
    )


@pytest.mark.django_db
@HYPOTHESIS_DB
@given(supplier=db_text(), affiliate=db_text())
@example(supplier="=1+1\x01", affiliate="\x1b@cmd")
def test_claims_import_export_xlsx_cells_are_never_formulas(one_claim, supplier, affiliate):
    _set_claim_texts(one_claim, supplier, affiliate)

    # as admin exports a binary format: numbers and dates as themselves, not as text
    dataset = ClaimResource().export(Claim.objects.all(), force_native_type=True)
    sheet = load_workbook(io.BytesIO(XLSX().export_data(dataset))).active

    header = [cell.value for cell in sheet[1]]
    row = dict(zip(header, sheet[2], strict=True))
    assert all(cell.data_type != "f" for cell in sheet[2])
    for name, original in (("supplier", supplier), ("affiliate", affiliate)):
        value = row[name].value or ""
        assert not read_as_formula(value), (original, value)
        if not XLSX_ILLEGAL.search(original):
            # (a character a worksheet cannot hold is replaced after the escape: no round trip)
            assert _xml_read_back(spreadsheet_unescape(value)) == _xml_read_back(original)
    assert row["amount"].value == 60
    assert row["amount"].data_type == "n"


def test_every_import_export_resource_of_ours_is_spreadsheet_safe():
    for app in OUR_APPS:
        for module in ("resources", "admin"):
            try:
                importlib.import_module(f"{app}.{module}")
            except ModuleNotFoundError:
                continue

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    ours = {cls for cls in subclasses(Resource) if cls.__module__.split(".")[0] in OUR_APPS}
    assert ClaimResource in ours
    assert [cls for cls in ours if not issubclass(cls, SpreadsheetSafeResource)] == []
    # import-export's own escaping deletes a leading "=" (changing the text): never both
    assert getattr(settings, "IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT", False) is False


@pytest.mark.django_db
def test_admin_xlsx_export_of_a_control_character_is_a_file_not_an_error(client, one_claim):
    # given a supplier name with a character a worksheet cannot hold
    Claim.objects.filter(pk=one_claim.pk).update(supplier_name="=Dealer\x01\x1f")
    client.force_login(StaffFactory(is_superuser=True))

    # when Finance exports XLSX from admin
    data = {"resource": "0", "format": "1"}
    data.update({f"claimresource_{name}": "on" for name in ClaimResource().get_export_order()})
    response = client.post("/admin/claims/claim/export/", data)

    # then it gets the workbook, the character replaced and the formula escaped
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[1]]
    supplier = sheet[2][header.index("supplier")].value
    assert supplier == "'=Dealer\N{REPLACEMENT CHARACTER}\N{REPLACEMENT CHARACTER}"


# --- The affiliate's feed and the API catalog ----------------------------------------------------


@pytest.fixture
def feed_item(db):
    user = UserFactory(affiliate__min_stock=2)
    import_feed("WH1", [("ACD", "P1", 10, "5.00", "Brake pad")])
    return user, Item.objects.get(part_number="P1")


@pytest.mark.django_db
@HYPOTHESIS_DB
@given(line_code=db_text(), part_number=db_text(), description=db_text())
@example(line_code="=ACD", part_number="-5.00", description="@SUM(1+1)*cmd|' /C calc'!A0")
def test_feed_csv_cells_are_never_formulas(feed_item, line_code, part_number, description):
    user, item = feed_item
    Item.objects.filter(pk=item.pk).update(
        line_code=line_code[:10], part_number=part_number[:50], description=description[:200]
    )

    text = "".join(catalog_csv(affiliate=user.affiliate))

    header, row = list(csv.reader(io.StringIO(text, newline="")))
    cells = dict(zip(header, row, strict=True))
    check_cell(cells["line_code"], line_code[:10])
    check_cell(cells["part_number"], part_number[:50])
    check_cell(cells["description"], description[:200])
    assert (cells["qty"], cells["price"]) == ("10", "6.00")


@pytest.mark.django_db
def test_feed_download_and_api_catalog_csv_escape_formulas(client, api_client, feed_item):
    user, item = feed_item
    Item.objects.filter(pk=item.pk).update(description='=HYPERLINK("http://evil","x")')
    _, raw = make_api_key(user)
    client.force_login(user)

    page = b"".join(client.get("/catalog/feed.csv").streaming_content).decode()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    api = api_client.get("/api/v1/catalog.csv")
    api_text = b"".join(api.streaming_content).decode() if api.streaming else api.content.decode()

    for text in (page, api_text):
        row = next(iter(csv.DictReader(io.StringIO(text, newline=""))))
        assert row["description"] == '\'=HYPERLINK("http://evil","x")'


# --- The order upload template -------------------------------------------------------------------


def test_order_upload_template_cells_are_never_formulas():
    rows = list(csv.reader(io.StringIO(csv_upload.template_csv(), newline="")))

    assert rows[0] == list(csv_upload.COLUMNS)
    for row, original in zip(rows[1:], csv_upload.TEMPLATE_ROWS, strict=True):
        for cell, value in zip(row, original, strict=True):
            check_cell(cell, value)


# --- Every CSV writer of ours goes through the rule ----------------------------------------------

# Files that write CSV that is not an export for people: demo feeds are input for our importer.
NOT_EXPORTS = {"inventory/demo.py"}


def test_every_csv_writer_in_our_code_uses_the_spreadsheet_rule():
    writers = []
    for app in OUR_APPS:
        for file in (BASE_DIR / app).rglob("*.py"):
            text = file.read_text()
            name = str(file.relative_to(BASE_DIR))
            if ("csv.writer(" in text or "DictWriter(" in text) and name not in NOT_EXPORTS:
                writers.append(name)
                assert "spreadsheet_safe" in text, f"{name} writes CSV without spreadsheet_safe"
    assert sorted(writers) == [
        "claims/exports.py",
        "inventory/selectors.py",
        "orders/csv_upload.py",
    ]
