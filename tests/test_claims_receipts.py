"""Receipts are untrusted: the attack set. Each bad file is refused with a message saying why,
and nothing is kept; good PDF, JPEG and PNG receipts pass with their type found from content."""

import hashlib
import io

import pytest
from django.utils import timezone

from claims import receipts
from claims.errors import ReceiptRefusedError
from claims.models import Claim
from claims.receipts import MAX_RECEIPT_BYTES, check_receipt
from tests.test_claims_helpers import (
    file_claim,
    jpeg_bytes,
    pdf_bytes,
    png_bytes,
    stored_files,
    upload,
    use_private_storage,
    voided_line,
)


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    return use_private_storage(settings, tmp_path)


HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>alert(1)</script></svg>"
)


def refused(data: bytes, name: str) -> ReceiptRefusedError:
    with pytest.raises(ReceiptRefusedError) as caught:
        check_receipt(data=data, name=name)
    assert caught.value.field == "receipt"
    assert caught.value.message
    return caught.value


def png_with_text(key: str, text: str) -> bytes:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(key, text)
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "white").save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def jpeg_with_comment(comment: bytes) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (20, 20), "white").save(out, format="JPEG", comment=comment)
    return out.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """Made here with Pillow: a few KB that decode to width x height pixels."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, format="PNG", optimize=True)
    return out.getvalue()


# --- Good receipts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "kind", "content_type"),
    [
        (png_bytes(), "receipt.png", "png", "image/png"),
        (jpeg_bytes(), "Scan 0042.JPG", "jpeg", "image/jpeg"),
        (jpeg_bytes(), "receipt.jpeg", "jpeg", "image/jpeg"),
        (pdf_bytes(), "Invoice 2026.11.pdf", "pdf", "application/pdf"),
    ],
)
def test_receipt_good_files_pass_with_type_from_content(data, name, kind, content_type):
    checked = check_receipt(data=data, name=name)

    assert (checked.kind, checked.content_type) == (kind, content_type)
    assert checked.sha256 == hashlib.sha256(data).hexdigest()
    assert checked.size == len(data)


# --- Not a receipt at all -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "says"),
    [
        (HTML, "receipt.html", "not accepted"),
        (HTML, "receipt.pdf", "web page"),
        (SVG, "receipt.svg", "not accepted"),
        (SVG, "receipt.png", "SVG"),
        (b"#!/bin/sh\nrm -rf /\n", "receipt.pdf", "script"),
        (b"<?php system($_GET['c']); ?>", "receipt.jpg", "PHP"),
        (b"MZ\x90\x00" + b"\x00" * 100, "receipt.pdf", "program"),
        (b"GIF89a" + b"\x00" * 100, "receipt.png", "GIF"),
        (b"PK\x03\x04" + b"\x00" * 100, "receipt.pdf", "ZIP"),
        (b"", "receipt.png", "empty"),
    ],
    ids=["html", "html-named-pdf", "svg", "svg-named-png", "shell", "php", "exe", "gif", "zip",
         "empty"],
)  # fmt: skip
def test_receipt_markup_scripts_and_other_types_are_refused(data, name, says):
    assert says in refused(data, name).message


# --- Polyglots: a real image or PDF that is also something else -----------------------------------


@pytest.mark.parametrize(
    ("data", "name", "says"),
    [
        (png_bytes() + HTML, "receipt.png", "script code"),
        (png_bytes() + b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF", "receipt.png", "PDF"),
        (png_bytes() + b"\x00\x01hidden payload", "receipt.png", "after the end"),
        (png_bytes() + png_bytes(), "receipt.png", "second image"),
        (png_with_text("Comment", "<script>alert(1)</script>"), "receipt.png", "script code"),
        (jpeg_with_comment(b"<?php echo 1; ?>"), "receipt.jpg", "script code"),
        (jpeg_bytes() + png_bytes(), "receipt.jpg", "PNG"),
        (jpeg_bytes() + b"%PDF-1.4", "receipt.jpg", "PDF"),
        (pdf_bytes() + b"<html><script>alert(1)</script></html>", "receipt.pdf", "script code"),
    ],
    ids=["png+html", "png+pdf", "png+trailer", "png+png", "png-text-chunk-script",
         "jpeg-comment-php", "jpeg+png", "jpeg+pdf", "pdf+html"],
)  # fmt: skip
def test_receipt_polyglots_are_refused(data, name, says):
    assert says in refused(data, name).message


# --- PDFs that run something ----------------------------------------------------------------------


def test_receipt_pdf_with_javascript_is_refused():
    error = refused(pdf_bytes(javascript="app.alert('hi');"), "receipt.pdf")

    assert error.code == "receipt_active_content"
    assert "JavaScript" in error.message


def test_receipt_pdf_javascript_behind_an_escaped_name_is_refused():
    # "/J#61vaScript" is "/JavaScript" to a PDF reader; a byte search would miss it.
    data = pdf_bytes(javascript="app.alert('hi');")
    data = data.replace(b"/JavaScript", b"/J#61vaScript").replace(b"/JS", b"/J#53")
    assert b"/JavaScript" not in data
    assert b"/JS" not in data

    assert "JavaScript" in refused(data, "receipt.pdf").message


def test_receipt_pdf_with_an_embedded_file_is_refused():
    error = refused(pdf_bytes(attach=("invoice.exe", b"MZ...")), "receipt.pdf")

    assert "embedded file" in error.message


def test_receipt_pdf_with_open_action_is_refused():
    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    action = DictionaryObject(
        {NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("calc.exe")}
    )
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)
    out = io.BytesIO()
    writer.write(out)

    error = refused(out.getvalue(), "receipt.pdf")
    assert "opened" in error.message
    assert "program" in error.message


def test_receipt_encrypted_pdf_is_refused():
    assert "password" in refused(pdf_bytes(password="s3cret"), "receipt.pdf").message


def test_receipt_fake_pdf_that_does_not_parse_is_refused():
    error = refused(b"%PDF-1.7\nthis is not a pdf at all\n", "receipt.pdf")

    assert error.code == "receipt_damaged"


# --- Images that are broken or too big ------------------------------------------------------------


def test_receipt_truncated_png_is_refused():
    data = png_bytes(size=(300, 300))

    assert "damaged" in refused(data[: len(data) // 2], "receipt.png").message


def test_receipt_corrupt_jpeg_is_refused():
    data = jpeg_bytes(size=(200, 200))
    corrupt = data[:200] + bytes(range(256)) * 4

    assert refused(corrupt, "receipt.jpg").code == "receipt_damaged"


def test_receipt_decompression_bomb_over_our_pixel_limit_is_refused_before_decoding():
    data = bomb_png(6000, 6000)  # 36 megapixels from a few KB
    assert len(data) < 100_000

    error = refused(data, "receipt.png")
    assert error.code == "receipt_too_many_pixels"
    assert "6,000 x 6,000" in error.message


def test_receipt_decompression_bomb_over_pillows_limit_is_refused():
    data = bomb_png(14_000, 14_000)  # 196 megapixels: Pillow itself refuses to open it

    assert refused(data, "receipt.png").code == "receipt_too_many_pixels"


def test_receipt_over_10_mb_is_refused_without_reading_it_all():
    data = b"%PDF-1.7\n" + b"0" * MAX_RECEIPT_BYTES

    error = refused(data, "receipt.pdf")
    assert error.code == "receipt_too_large"

    class Unreadable:
        name, size = "receipt.pdf", MAX_RECEIPT_BYTES + 1

        def read(self, *args):
            raise AssertionError("read although the size says it is too large")

    with pytest.raises(ReceiptRefusedError, match="limit"):
        receipts.check_upload(Unreadable())


# --- Names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../receipt.png", "..\\receipt.png", "/etc/receipt.png", "scans/receipt.png",
     "C:\\Users\\me\\receipt.png", "receipt\x00.png"],
)  # fmt: skip
def test_receipt_names_with_paths_are_refused(name):
    assert refused(png_bytes(), name).code == "receipt_name"


@pytest.mark.parametrize(
    "name", ["receipt.pdf.exe", "x.php.jpg", "receipt.png.html", "invoice.html.pdf", "a.js.png"]
)
def test_receipt_double_extensions_are_refused(name):
    data = {"pdf": pdf_bytes(), "jpg": jpeg_bytes()}.get(name.rsplit(".", 1)[1], png_bytes())

    assert refused(data, name).code in {"receipt_name", "receipt_type"}


@pytest.mark.parametrize(
    ("data", "name"),
    [(png_bytes(), "receipt.pdf"), (jpeg_bytes(), "receipt.png"), (pdf_bytes(), "receipt.jpg")],
)
def test_receipt_extension_must_match_the_content(data, name):
    error = refused(data, name)

    assert error.code == "receipt_type_mismatch"
    assert "Rename it" in error.message


def test_receipt_without_an_extension_is_refused():
    assert refused(png_bytes(), "receipt").code == "receipt_name"


# --- Through filing: nothing is kept --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "name"),
    [(HTML, "receipt.html"), (png_bytes() + HTML, "receipt.png"), (bomb_png(6000, 6000), "b.png"),
     (pdf_bytes(javascript="app.alert(1)"), "r.pdf"), (png_bytes(), "receipt.pdf.exe")],
)  # fmt: skip
def test_claim_file_with_a_refused_receipt_keeps_no_claim_and_no_file(data, name, private_storage):
    user, _, line = voided_line()

    with pytest.raises(ReceiptRefusedError):
        file_claim(user, line, receipt=upload(name, data))

    assert not Claim.objects.exists()
    assert stored_files(private_storage) == []


@pytest.mark.django_db
def test_claim_file_stores_the_receipt_under_a_generated_name(private_storage):
    user, _, line = voided_line()
    data = pdf_bytes()

    claim = file_claim(user, line, receipt=upload("My Receipt.pdf", data, "text/html"))

    today = timezone.now()
    assert claim.receipt.name.startswith(f"receipts/{today:%Y}/{today:%m}/")
    assert claim.receipt.name.endswith(".pdf")
    assert "My Receipt" not in claim.receipt.name
    assert claim.receipt_name == "My Receipt.pdf"
    # The type is the one found in the content, not the one the browser sent.
    assert claim.receipt_content_type == "application/pdf"
    assert claim.receipt_sha256 == hashlib.sha256(data).hexdigest()
    (stored,) = stored_files(private_storage)
    assert stored.read_bytes() == data
    assert oct(stored.stat().st_mode & 0o777) == "0o600"
