"""Receipts are untrusted input. What a receipt is comes from its bytes, never from its name; it
is kept only when it is a PDF, JPEG or PNG that really parses, carries nothing that runs, and is
not also something else (a polyglot). Each refusal says what was wrong, and nothing is stored.

What must stay true:
- A receipt is read once, whole, into memory: at most MAX_RECEIPT_BYTES (+1 to notice more).
- Images are decoded in full (verify, then load) under a pixel limit checked before decoding, so
  a small file that would inflate to gigabytes is refused without being inflated.
- A PDF must parse with pypdf, be unencrypted, and contain no JavaScript, automatic actions,
  launch or other running actions, embedded files or script links anywhere in its objects
  (compressed object streams included), names and strings compared as decoded (#xx escapes, hex,
  octal escapes, UTF-16). An /OpenAction that only opens a page or sets the zoom is ordinary.
- Markup and script markers are looked for only where a program reads text: image metadata
  (JPEG comments and APPn segments, EXIF text tags, XMP, PNG text chunks), bytes after the end of
  an image, and PDF strings and metadata. Never in compressed pixels or content streams, where
  short markers turn up by chance. A marker in metadata refuses the receipt.
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


# --- Where active content can live ------------------------------------------------------------
#
# Compressed image data (JPEG scans, PNG IDAT, PDF content streams) is noise to a browser or a
# reader: nothing there runs, and a short marker such as "<%@" turns up in it by chance (a
# multi-megabyte photo has one about one time in five). So the markers are looked for only in
# what a program interprets as text: JPEG comments and APPn metadata (EXIF text tags, XMP), PNG
# text chunks, bytes after the end of an image, and a PDF's objects. A marker there is refused:
# a receipt has no use for markup or script in its metadata, and some viewers show metadata as is.

# The JPEG markers (the byte after 0xFF) that have no length: SOI, EOI, TEM and the restarts.
_JPEG_STANDALONE = {0xD8, 0xD9, 0x01, *range(0xD0, 0xD8)}
_JPEG_SOS, _JPEG_EOI, _JPEG_COM = 0xDA, 0xD9, 0xFE
_JPEG_APP = range(0xE0, 0xF0)
# After a scan, the next marker: 0xFF then neither a stuffed 0x00 nor a restart.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# Cameras append a second image after the first (the Multi-Picture Format); a few at most.
MAX_JPEG_IMAGES = 8
# EXIF tags that hold vendor binary data (MakerNote) or compressed thumbnails: not text.
_EXIF_BINARY_TAGS = {0x927C, 0x0201, 0x0202}
# Text metadata read from a compressed PNG chunk stops here (a metadata bomb is not inflated).
MAX_METADATA_TEXT = 1024 * 1024
# PNG chunks whose data is compressed pixels or a binary ICC profile: not text.
_PNG_NOT_TEXT = {b"IDAT", b"fdAT", b"iCCP"}
# Schemes a browser runs instead of opening. Browsers ignore spaces and control characters
# inside a scheme ("java\tscript:"), so they are compared with those removed.
SCRIPT_SCHEMES = ("javascript:", "vbscript:", "livescript:", "data:text/html")
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")


def _text_forms(payload: bytes) -> list[str]:
    """The ways a program may read these bytes as text: one byte per character, or UTF-16 in
    either byte order (EXIF's XP tags, PDF text strings)."""
    forms = [payload.decode("latin-1")]
    if len(payload) >= 2 and payload.count(0) * 4 >= len(payload):
        body = payload[2:] if payload[:2] in (b"\xfe\xff", b"\xff\xfe") else payload
        forms += [body.decode("utf-16-be", "ignore"), body.decode("utf-16-le", "ignore")]
    return forms


def find_active_text(text: str) -> str | None:
    """The markup or script marker in this text, if any."""
    lowered = text.lower()
    for marker in ACTIVE_CONTENT:
        if marker.decode() in lowered:
            return marker.decode()
    squeezed = _IGNORED_IN_SCHEME.sub("", lowered)
    for scheme in SCRIPT_SCHEMES:
        if scheme in squeezed:
            return scheme
    return None


def find_active_bytes(payload: bytes) -> str | None:
    for text in _text_forms(payload):
        found = find_active_text(text)
        if found:
            return found
    return None


def _exif_text(payload: bytes) -> list[bytes]:
    """The text-like values of an EXIF block (every IFD), without the thumbnail or the maker's
    binary notes. A block Pillow cannot read is given back whole, to be scanned as it is."""
    from PIL import ExifTags, Image

    try:
        exif = Image.Exif()
        exif.load(payload)
        values = list(exif.items())
        for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo, ExifTags.IFD.Interop):
            values += list(exif.get_ifd(ifd).items())
    except Exception:
        return [payload]
    found = []
    for tag, value in values:
        if tag in _EXIF_BINARY_TAGS:
            continue
        if isinstance(value, str):
            found.append(value.encode("utf-8", "surrogatepass"))
        elif isinstance(value, bytes):
            found.append(value)
    return found


def jpeg_metadata(data: bytes) -> list[tuple[str, bytes]]:
    """(where, bytes) for every place of a JPEG file that holds text rather than pixels: each
    image's comments and APPn segments (EXIF as its text values), and whatever follows the last
    image. The entropy-coded scans are skipped. A file that stops making sense as a JPEG gives
    its remainder as one piece, so nothing is skipped unread."""
    found: list[tuple[str, bytes]] = []
    pos, size = 0, len(data)
    for _ in range(MAX_JPEG_IMAGES):
        if not data.startswith(JPEG_MAGIC, pos):
            break
        pos += 2
        while pos < size:
            if data[pos] != 0xFF:
                found.append(("unreadable part", data[pos:]))
                return found
            while pos + 1 < size and data[pos + 1] == 0xFF:
                pos += 1  # fill bytes before a marker
            if pos + 1 >= size:
                return found
            marker = data[pos + 1]
            pos += 2
            if marker == _JPEG_EOI:
                break
            if marker in _JPEG_STANDALONE:
                continue
            if pos + 2 > size:
                return found
            (length,) = struct.unpack(">H", data[pos : pos + 2])
            segment = data[pos + 2 : pos + length]
            pos += length
            if marker == _JPEG_COM:
                found.append(("comment", segment))
            elif marker in _JPEG_APP:
                if segment.startswith(b"Exif\x00\x00"):
                    found += [("EXIF", value) for value in _exif_text(segment)]
                elif not segment.startswith(b"ICC_PROFILE\x00"):
                    found.append(("metadata", segment))
            if marker == _JPEG_SOS:
                after = _JPEG_NEXT_MARKER.search(data, pos)
                if after is None:
                    return found  # a scan without an end: decoding refuses it as damaged
                pos = after.start()
        while pos < size and data[pos] in b"\x00\r\n\t ":
            pos += 1
    if pos < size:
        found.append(("data after the image", data[pos:]))
    return found


def png_metadata(data: bytes) -> list[tuple[str, bytes]]:
    """(where, bytes) for every chunk of a PNG except compressed pixels and the ICC profile; the
    compressed text chunks (zTXt, compressed iTXt) inflated, up to MAX_METADATA_TEXT."""
    import zlib

    found: list[tuple[str, bytes]] = []
    pos, size = len(PNG_MAGIC), len(data)
    while pos + 8 <= size:
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind in _PNG_NOT_TEXT:
            continue
        if kind == b"eXIf":
            found += [("EXIF", value) for value in _exif_text(chunk)]
            continue
        found.append((kind.decode("latin-1"), chunk))
        compressed = None
        if kind == b"zTXt":
            _, _, rest = chunk.partition(b"\x00")
            compressed = rest[1:]
        elif kind == b"iTXt":
            _, _, rest = chunk.partition(b"\x00")
            if rest[:1] == b"\x01":
                # flag, method, language\0, translated keyword\0, then the compressed text.
                compressed = rest[2:].split(b"\x00", 2)[-1]
        if compressed is not None:
            try:
                text = zlib.decompressobj().decompress(compressed, MAX_METADATA_TEXT)
            except zlib.error:
                continue  # decoding the image refuses a damaged file
            found.append((kind.decode("latin-1"), text))
        if kind == b"IEND":
            break
    return found


def _refuse_markup(where: str, marker: str) -> None:
    _refuse(
        f"The receipt contains web page or script code (“{marker}”, in its {where}); it is "
        "refused. Send a plain scan or photo.",
        "receipt_active_content",
    )


def _check_active_content(data: bytes, kind: str) -> None:
    # Another file's signature inside an image: long enough (5 and 8 bytes) not to turn up in
    # compressed data by chance, so the whole file is searched.
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
        trailer = data[end + len(PNG_END) :] if end != -1 else b""
        if trailer.strip(b"\x00"):
            marker = find_active_bytes(trailer)
            if marker:
                _refuse_markup("data after the image", marker)
            _refuse(
                "The PNG has data after the end of the image. Save it again as a plain PNG.",
                "receipt_polyglot",
            )
    if kind == PDF:
        return  # its objects are walked by _check_pdf
    pieces = jpeg_metadata(data) if kind == JPEG else png_metadata(data)
    for where, payload in pieces:
        marker = find_active_bytes(payload)
        if marker:
            _refuse_markup(where, marker)


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


# What a PDF may not contain. Names are compared as pypdf reads them, with #xx escapes decoded
# ("/J#61vaScript" is "/JavaScript"); strings as decoded from hex, octal escapes or UTF-16.
PDF_ACTIVE_NAMES = {
    "/JavaScript": "JavaScript",
    "/JS": "JavaScript",
    "/AA": "actions that run automatically",
    "/Launch": "an action that starts a program",
    "/EmbeddedFile": "an embedded file",
    "/EmbeddedFiles": "embedded files",
    "/RichMedia": "embedded media",
    "/XFA": "an XFA form",
    # 3D models (the /3D annotation, its /3DD stream) can carry a script run on loading
    # (/OnInstantiate) and reader-run animations: a receipt has no use for either.
    "/OnInstantiate": "JavaScript in a 3D model",
    "/3D": "a 3D model",
    "/3DD": "a 3D model",
    # Media a reader plays (sound and movie annotations, rendition dictionaries); the actions of
    # the same names are below. An embedded-file jump is refused wherever its name appears.
    "/Sound": "embedded media",
    "/Movie": "embedded media",
    "/Rendition": "embedded media",
    "/GoToE": "an action that opens an embedded file",
}
# Not refused: /Hide (shows or hides this document's own annotations), /GoTo, /Named (the
# reader's own menu items), /ResetForm, /SetOCGState, /Trans: nothing runs and nothing is fetched.
# Actions (the /S of an action dictionary) that run, send or fetch something.
PDF_ACTIVE_ACTIONS = {
    "/JavaScript": "JavaScript",
    "/Launch": "an action that starts a program",
    "/SubmitForm": "an action that sends data",
    "/ImportData": "an action that reads another file",
    "/GoToE": "an action that opens an embedded file",
    "/GoToR": "an action that opens another file",
    "/Rendition": "embedded media",
    "/RichMediaExecute": "embedded media",
    "/Sound": "embedded media",
    "/Movie": "embedded media",
}
OPEN_ACTION = "an action that runs when it is opened"
# A plain /OpenAction only shows a page: [page /XYZ left top zoom], [page /Fit], ... or a /GoTo
# action to such a destination. Accounting tools write these to open at page 1, 100%.
PDF_DESTINATION_KINDS = {"/XYZ", "/Fit", "/FitH", "/FitV", "/FitR", "/FitB", "/FitBH", "/FitBV"}
# Link schemes a receipt may carry (a supplier's site, its email); anything else is refused.
PDF_LINK_SCHEMES = {"http", "https", "mailto", "tel"}
_SCHEME = re.compile(r"^\s*([a-z][a-z0-9+.\-]*):", re.IGNORECASE)
# Metadata streams (XMP) are XML text; other streams are drawing, fonts and images.
MAX_METADATA_STREAM = 1024 * 1024
MAX_PDF_DEPTH = 32


def _plain_destination(value) -> bool:
    from pypdf.generic import (
        ArrayObject,
        ByteStringObject,
        FloatObject,
        IndirectObject,
        NameObject,
        NullObject,
        NumberObject,
        TextStringObject,
    )

    if isinstance(value, IndirectObject):
        value = value.get_object()
    if isinstance(value, (NameObject, TextStringObject, ByteStringObject)):
        return True  # a named destination: a place in this document
    if not isinstance(value, ArrayObject) or len(value) < 2:
        return False
    page, kind, *numbers = value
    return (
        isinstance(page, (IndirectObject, NumberObject))
        and str(kind) in PDF_DESTINATION_KINDS
        and all(isinstance(n, (NumberObject, FloatObject, NullObject)) for n in numbers)
    )


def _plain_open_action(value) -> bool:
    """True when /OpenAction only opens a page or sets the zoom."""
    from pypdf.generic import DictionaryObject, IndirectObject

    if isinstance(value, IndirectObject):
        value = value.get_object()
    if isinstance(value, DictionaryObject):
        keys = set(value.keys()) - {"/Type"}
        return (
            str(value.get("/S")) == "/GoTo"
            and keys == {"/S", "/D"}
            and _plain_destination(value["/D"])
        )
    return _plain_destination(value)


def _string_forms(value) -> list[str]:
    from pypdf.generic import ByteStringObject, TextStringObject

    if isinstance(value, TextStringObject):
        return [str(value), *_text_forms(value.get_original_bytes())]
    if isinstance(value, ByteStringObject):
        return _text_forms(bytes(value))
    return []


def _pdf_findings(obj, found: set[str], depth: int = 0) -> None:
    """Add to `found` what runs or carries files in one object and its direct children."""
    from pypdf.generic import (
        ArrayObject,
        ByteStringObject,
        DictionaryObject,
        IndirectObject,
        NameObject,
        StreamObject,
        TextStringObject,
    )

    if depth > MAX_PDF_DEPTH:
        found.add("objects nested too deep")
        return
    if isinstance(obj, DictionaryObject):
        for key, child in obj.items():
            key = str(key)
            # The value the checks below read: an indirect one ("/URI 8 0 R") is the object it
            # refers to. (Not walked from here: every object is walked once, from the xref.)
            value = child.get_object() if isinstance(child, IndirectObject) else child
            if key in PDF_ACTIVE_NAMES:
                found.add(PDF_ACTIVE_NAMES[key])
            elif key == "/OpenAction" and not _plain_open_action(child):
                found.add(OPEN_ACTION)
            elif key == "/S" and str(value) in PDF_ACTIVE_ACTIONS:
                found.add(PDF_ACTIVE_ACTIONS[str(value)])
            elif key in ("/URI", "/F") and isinstance(value, (TextStringObject, ByteStringObject)):
                for text in _string_forms(value):
                    scheme = _SCHEME.match(_IGNORED_IN_SCHEME.sub("", text))
                    name = scheme.group(1).lower() if scheme else ""
                    # One letter is a drive ("C:\\..."): a file, refused as /Launch or /GoToR.
                    if len(name) > 1 and name not in PDF_LINK_SCHEMES:
                        found.add(f"a link that runs “{name}:”")
            _pdf_findings(child, found, depth + 1)
        if isinstance(obj, StreamObject) and str(obj.get("/Type")) == "/Metadata":
            try:
                text = obj.get_data()[:MAX_METADATA_STREAM]
            except Exception:
                text = b""
            marker = find_active_bytes(text)
            if marker:
                found.add(f"script code in its metadata (“{marker}”)")
    elif isinstance(obj, ArrayObject):
        for child in obj:
            _pdf_findings(child, found, depth + 1)
    elif isinstance(obj, NameObject):
        if str(obj) in PDF_ACTIVE_NAMES:
            found.add(PDF_ACTIVE_NAMES[str(obj)])
    elif isinstance(obj, (TextStringObject, ByteStringObject)):
        for text in _string_forms(obj):
            marker = find_active_text(text)
            if marker:
                found.add(f"script code (“{marker}”)")
                break


def _pdf_object_ids(reader) -> set[tuple[int, int]]:
    ids = {(idnum, gen) for gen, table in reader.xref.items() for idnum in table}
    ids |= {(idnum, 0) for idnum in reader.xref_objStm}
    return ids


def _check_pdf(data: bytes) -> None:
    from pypdf import PdfReader
    from pypdf.generic import IndirectObject

    unreadable = "The PDF could not be read: it is damaged or not a real PDF. Save it again."
    # What follows the last end-of-file marker is no part of the document: a second file.
    end = data.rfind(b"%%EOF")
    if end != -1 and data[end + 5 :].strip(b"\x00\r\n\t\x0c "):
        marker = find_active_bytes(data[end + 5 :])
        if marker:
            _refuse_markup("data after the document", marker)
        _refuse(
            "The PDF has data after the end of the document. Print it to a plain PDF again.",
            "receipt_polyglot",
        )
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
    found: set[str] = set()
    try:
        pages = len(reader.pages)
        ids = _pdf_object_ids(reader)
        if len(ids) > MAX_PDF_OBJECTS:
            _refuse("The PDF is too complex to be a receipt.", "receipt_damaged")
        # Every object in the cross-reference tables, those inside compressed object streams
        # included, and the trailer: also objects nothing refers to, which a reader may still run.
        _pdf_findings(reader.trailer, found)
        for idnum, gen in sorted(ids):
            obj = IndirectObject(idnum, gen, reader).get_object()
            if obj is not None:
                _pdf_findings(obj, found)
    except ReceiptRefusedError:
        raise
    except Exception:
        _refuse(unreadable, "receipt_damaged")
    if found:
        _refuse(
            f"The PDF contains {', '.join(sorted(found))}. Print it to a plain PDF, or send a "
            "scan or photo.",
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
