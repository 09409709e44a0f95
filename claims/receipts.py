"""Receipts are untrusted input. What a receipt is comes from its bytes, never from its name; it
is kept only when it is a PDF, JPEG or PNG that really parses, carries nothing that runs, and is
not also something else (a polyglot). Each refusal says what was wrong, and nothing is stored.

What must stay true:
- A receipt is read once, whole, into memory: at most MAX_RECEIPT_BYTES (+1 to notice more).
- Images are decoded in full (verify, then load) under a pixel limit checked before decoding, so
  a small file that would inflate to gigabytes is refused without being inflated.
- A PDF must parse with pypdf, be unencrypted, and contain no JavaScript, automatic actions,
  launch actions or embedded files anywhere in its objects (compressed object streams included).
"""

import hashlib
import io
import re
import struct
import warnings
from dataclasses import dataclass

from claims.errors import ReceiptRefusedError

# 10 MB: the published receipt limit.
MAX_RECEIPT_BYTES = 10 * 1024 * 1024
# 25 megapixels: a 6000 x 4000 photo, more than a readable receipt needs. Decoded as RGB that is
# about 75 MB of memory per upload; anything bigger is refused before it is decoded.
MAX_RECEIPT_PIXELS = 25_000_000
# Generous for a receipt, small enough that walking every object stays quick.
MAX_PDF_PAGES = 100
MAX_PDF_OBJECTS = 50_000
MAX_NAME_LENGTH = 200

PDF, JPEG, PNG = "pdf", "jpeg", "png"
CONTENT_TYPES = {PDF: "application/pdf", JPEG: "image/jpeg", PNG: "image/png"}
# The extensions a receipt's name may end with, for each type found in its content.
EXTENSIONS = {"pdf": PDF, "jpg": JPEG, "jpeg": JPEG, "png": PNG}
# What the stored file is called (the name we generate keeps only this).
STORED_EXTENSION = {PDF: "pdf", JPEG: "jpg", PNG: "png"}
ACCEPTED = "a PDF, JPEG or PNG file"

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
PDF_MAGIC = b"%PDF-"
PNG_END = b"IEND\xaeB`\x82"

# Markup and code that has no business in a receipt: a browser or a server could run it.
ACTIVE_CONTENT = (
    b"<script",
    b"<html",
    b"<svg",
    b"<?php",
    b"<body",
    b"<iframe",
    b"<!doctype html",
    b"<%@",
    b"javascript:",
)
# Names in a PDF that run something or carry other files.
PDF_ACTIVE_NAMES = {
    "/JavaScript": "JavaScript",
    "/JS": "JavaScript",
    "/OpenAction": "an action that runs when it is opened",
    "/AA": "actions that run automatically",
    "/Launch": "an action that starts a program",
    "/EmbeddedFile": "an embedded file",
    "/EmbeddedFiles": "embedded files",
    "/RichMedia": "embedded media",
    "/XFA": "an XFA form",
}
# Inner extensions that make a name a double extension ("receipt.pdf.exe", "x.php.jpg").
KNOWN_EXTENSIONS = {
    "pdf", "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp", "heic", "svg", "svgz",
    "htm", "html", "xhtml", "shtml", "xml", "js", "mjs", "php", "php3", "php4", "php5", "phtml",
    "phar", "asp", "aspx", "jsp", "cgi", "pl", "py", "rb", "sh", "bash", "exe", "com", "bat",
    "cmd", "scr", "msi", "dll", "jar", "vbs", "ps1", "hta", "lnk", "zip", "rar", "7z", "gz",
    "doc", "docx", "xls", "xlsx", "txt", "csv", "swf",
}  # fmt: skip
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class CheckedReceipt:
    """A receipt that passed every check: its bytes and what we know about them."""

    data: bytes
    kind: str
    name: str
    sha256: str

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.kind]

    @property
    def extension(self) -> str:
        return STORED_EXTENSION[self.kind]

    @property
    def size(self) -> int:
        return len(self.data)


def _refuse(message: str, code: str = "receipt_refused"):
    raise ReceiptRefusedError(message, code=code)


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


# --- The name ---------------------------------------------------------------------------------


def check_name(name: str) -> str:
    """The extension the name claims (pdf, jpg...), or a refusal. The name is never used to store
    the file; it is checked because a name that lies about its type is a warning sign."""
    name = name or ""
    if not name.strip():
        _refuse("The receipt file has no name.", "receipt_name")
    if len(name) > MAX_NAME_LENGTH:
        _refuse(
            f"The file name is too long (at most {MAX_NAME_LENGTH} characters).", "receipt_name"
        )
    if "/" in name or "\\" in name or ".." in name or _CONTROL.search(name):
        _refuse(
            "The file name must be a plain name, without folders or special characters "
            "(e.g. receipt.pdf).",
            "receipt_name",
        )
    parts = name.strip().split(".")
    if len(parts) < 2 or not parts[-1]:
        _refuse("The file name must end in .pdf, .jpg or .png.", "receipt_name")
    inner = [part.lower().strip() for part in parts[1:-1]]
    if any(part in KNOWN_EXTENSIONS for part in inner):
        _refuse(
            f"“{name}” has two extensions. Rename it so it ends in one of .pdf, .jpg or .png only.",
            "receipt_name",
        )
    extension = parts[-1].lower().strip()
    if extension not in EXTENSIONS:
        _refuse(f"A .{extension[:10]} file is not accepted: send {ACCEPTED}.", "receipt_type")
    return extension


# --- The content ------------------------------------------------------------------------------


def _what_else(data: bytes) -> str:
    """Say what an unaccepted file looks like, so the refusal helps."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<svg", b"<?xml")) and b"<svg" in data[:4096].lower():
        return "an SVG image (it can carry scripts)"
    if head.startswith(b"<?php"):
        return "a PHP script"
    if head.startswith(b"<"):
        return "a web page or markup"
    if head.startswith(b"#!"):
        return "a script"
    if data.startswith((b"MZ", b"\x7fELF")):
        return "a program"
    if data.startswith(b"PK\x03\x04"):
        return "a ZIP archive or Office document"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image (save it as PNG)"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP image (save it as JPEG or PNG)"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftyphevc"):
        return "a HEIC photo (export it as JPEG)"
    return "not a file type we accept"


def detect_kind(data: bytes) -> str:
    if data.startswith(PDF_MAGIC):
        return PDF
    if data.startswith(PNG_MAGIC):
        return PNG
    if data.startswith(JPEG_MAGIC):
        return JPEG
    _refuse(f"The receipt must be {ACCEPTED}; this file is {_what_else(data)}.", "receipt_type")
    return ""  # not reached


def _check_active_content(data: bytes, kind: str) -> None:
    lowered = data.lower()
    for marker in ACTIVE_CONTENT:
        if marker in lowered:
            _refuse(
                "The receipt contains web page or script code "
                f"(“{marker.decode()}”); it is refused. Send a plain scan or photo.",
                "receipt_active_content",
            )
    if kind != PDF and PDF_MAGIC in data:
        _refuse(
            "The image also contains a PDF document. Send the receipt as one plain file.",
            "receipt_polyglot",
        )
    if kind == JPEG and PNG_MAGIC in data:
        _refuse(
            "The JPEG also contains a PNG image. Send the receipt as one plain file.",
            "receipt_polyglot",
        )
    if kind == PNG:
        end = data.find(PNG_END)
        if PNG_MAGIC in data[len(PNG_MAGIC) :]:
            _refuse(
                "The PNG contains a second image. Send the receipt as one plain file.",
                "receipt_polyglot",
            )
        if end != -1 and data[end + len(PNG_END) :].strip(b"\x00"):
            _refuse(
                "The PNG has data after the end of the image. Save it again as a plain PNG.",
                "receipt_polyglot",
            )


def _check_image(data: bytes, kind: str) -> None:
    from PIL import Image, UnidentifiedImageError

    pillow_format = {JPEG: "JPEG", PNG: "PNG"}[kind]
    broken = f"The {pillow_format} image is damaged or incomplete; save or scan it again."
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns first and raises only at twice its limit: both refuse.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
                width, height = image.size
                if width * height > MAX_RECEIPT_PIXELS:
                    _refuse(
                        f"The image is {width:,} x {height:,} pixels; a receipt may have at most "
                        f"{MAX_RECEIPT_PIXELS // 1_000_000} megapixels. Scan or photograph it "
                        "at a lower resolution.",
                        "receipt_too_many_pixels",
                    )
                image.verify()
            # verify() leaves the image unusable: decode it in full from a fresh start.
            with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        _refuse(
            "The image would take too much memory to open (a decompression bomb); it is refused.",
            "receipt_too_many_pixels",
        )
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error):
        _refuse(broken, "receipt_damaged")


def _walk_pdf(value, depth: int = 0):
    """The names used as keys or values in one object, direct children included."""
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject

    if depth > 32:
        return
    if isinstance(value, DictionaryObject):
        for key, child in value.items():
            yield str(key)
            yield from _walk_pdf(child, depth + 1)
    elif isinstance(value, ArrayObject):
        for child in value:
            yield from _walk_pdf(child, depth + 1)
    elif isinstance(value, NameObject):
        yield str(value)


def _pdf_object_ids(reader) -> set[tuple[int, int]]:
    ids = {(idnum, gen) for gen, table in reader.xref.items() for idnum in table}
    ids |= {(idnum, 0) for idnum in reader.xref_objStm}
    return ids


def _check_pdf(data: bytes) -> None:
    from pypdf import PdfReader
    from pypdf.generic import IndirectObject

    unreadable = "The PDF could not be read: it is damaged or not a real PDF. Save it again."
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except Exception:
        _refuse(unreadable, "receipt_damaged")
    if encrypted:
        _refuse(
            "The PDF is password-protected or encrypted. Send it without a password.",
            "receipt_encrypted",
        )
    try:
        pages = len(reader.pages)
        ids = _pdf_object_ids(reader)
        if len(ids) > MAX_PDF_OBJECTS:
            _refuse("The PDF is too complex to be a receipt.", "receipt_damaged")
        objects = [reader.trailer]
        for idnum, gen in sorted(ids):
            obj = IndirectObject(idnum, gen, reader).get_object()
            if obj is not None:
                objects.append(obj)
        found = set()
        for obj in objects:
            found.update(name for name in _walk_pdf(obj) if name in PDF_ACTIVE_NAMES)
    except ReceiptRefusedError:
        raise
    except Exception:
        _refuse(unreadable, "receipt_damaged")
    if found:
        what = ", ".join(sorted({PDF_ACTIVE_NAMES[name] for name in found}))
        _refuse(
            f"The PDF contains {what}. Print it to a plain PDF, or send a scan or photo.",
            "receipt_active_content",
        )
    if not 1 <= pages <= MAX_PDF_PAGES:
        _refuse(f"A receipt PDF must have 1 to {MAX_PDF_PAGES} pages.", "receipt_damaged")


def read_upload(uploaded) -> bytes:
    """The uploaded file's bytes, refusing more than MAX_RECEIPT_BYTES without reading them."""
    size = getattr(uploaded, "size", None)
    if size is not None and size > MAX_RECEIPT_BYTES:
        _refuse(
            f"The receipt is {_megabytes(size)}; the limit is {_megabytes(MAX_RECEIPT_BYTES)}.",
            "receipt_too_large",
        )
    uploaded.seek(0)
    data = uploaded.read(MAX_RECEIPT_BYTES + 1)
    if len(data) > MAX_RECEIPT_BYTES:
        _refuse(
            f"The receipt is over the {_megabytes(MAX_RECEIPT_BYTES)} limit.", "receipt_too_large"
        )
    return data


def check_receipt(*, data: bytes, name: str) -> CheckedReceipt:
    """Every check, cheapest first; a CheckedReceipt or a ReceiptRefusedError."""
    if len(data) > MAX_RECEIPT_BYTES:
        _refuse(
            f"The receipt is {_megabytes(len(data))}; the limit is "
            f"{_megabytes(MAX_RECEIPT_BYTES)}.",
            "receipt_too_large",
        )
    if not data:
        _refuse("The receipt file is empty.", "receipt_damaged")
    extension = check_name(name)
    kind = detect_kind(data)
    if EXTENSIONS[extension] != kind:
        _refuse(
            f"The file is named .{extension} but its content is a "
            f"{STORED_EXTENSION[kind].upper()} file. Rename it to end in "
            f".{STORED_EXTENSION[kind]}, or send the right file.",
            "receipt_type_mismatch",
        )
    _check_active_content(data, kind)
    if kind == PDF:
        _check_pdf(data)
    else:
        _check_image(data, kind)
    return CheckedReceipt(
        data=data, kind=kind, name=name.strip(), sha256=hashlib.sha256(data).hexdigest()
    )


def check_upload(uploaded) -> CheckedReceipt:
    return check_receipt(data=read_upload(uploaded), name=getattr(uploaded, "name", "") or "")
