"""Write PDFs by hand, byte for byte, so tests choose every encoding a hostile or an ordinary
PDF may use: names with #xx escapes, literal strings with octal escapes, hex strings, UTF-16BE
text, FlateDecode streams, and objects inside compressed object streams (with a cross-reference
stream, as PDF 1.5 and later write them)."""

import zlib

CATALOG, PAGES, PAGE, CONTENT, FONT = 1, 2, 3, 4, 5


def name(text: str, escape: set[int] = frozenset()) -> bytes:
    """A PDF name, with the characters at the `escape` positions written as #xx."""
    return (
        b"/" + "".join(f"#{ord(c):02X}" if i in escape else c for i, c in enumerate(text)).encode()
    )


def literal(text: bytes, octal: set[int] = frozenset()) -> bytes:
    """A literal string, with the bytes at the `octal` positions written as \\ddd."""
    out = []
    for i, byte in enumerate(text):
        char = bytes([byte])
        if i in octal or char in b"()\\" or byte < 32 or byte > 126:
            out.append(b"\\%03o" % byte)
        else:
            out.append(char)
    return b"(" + b"".join(out) + b")"


def hexstring(text: bytes, upper: bool = False, spaced: bool = False) -> bytes:
    digits = text.hex().upper() if upper else text.hex()
    if spaced:
        digits = " ".join(digits[i : i + 2] for i in range(0, len(digits), 2))
    return b"<" + digits.encode() + b">"


def utf16(text: str) -> bytes:
    return b"\xfe\xff" + text.encode("utf-16-be")


def stream(data: bytes, extra: bytes = b"", compress: bool = True) -> bytes:
    if compress:
        data = zlib.compress(data)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(data), extra, data)


def base_objects(*, catalog_extra: bytes = b"", page_extra: bytes = b"", text=b"Invoice 1001"):
    """A one-page document: catalog, pages, page, its content stream and a font."""
    content = b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"
    return {
        CATALOG: b"<< /Type /Catalog /Pages 2 0 R" + catalog_extra + b" >>",
        PAGES: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        PAGE: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >>" + page_extra + b" >>",
        CONTENT: stream(content),
        FONT: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }


def build(
    objects: dict[int, bytes],
    *,
    packed: set[int] = frozenset(),
    info: bytes = b"",
    compress_packed: bool = True,
) -> bytes:
    """The PDF file. Objects in `packed` go into one object stream (they must not be streams);
    with any packed, the cross-reference is a stream too, else a classic table."""  # fmt: skip
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(set(objects) - set(packed)):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    size = max(objects) + 1
    info_ref = b""
    if info:
        info_number = size
        size += 1
        offsets[info_number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (info_number, info)
        info_ref = b" /Info %d 0 R" % info_number
    if not packed:
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % size
        for number in range(1, size):
            out += (
                b"%010d 00000 n \n" % offsets[number]
                if number in offsets
                else b"0000000000 00000 f \n"
            )
        out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
            size, info_ref, xref)  # fmt: skip
        return bytes(out)
    # The object stream: "number offset" pairs, then the objects.
    order = sorted(packed)
    bodies, header, position = [], [], 0
    for number in order:
        header.append(b"%d %d" % (number, position))
        bodies.append(objects[number])
        position += len(objects[number]) + 1
    head = b" ".join(header) + b"\n"
    data = head + b"\n".join(bodies)
    objstm = size
    xref_number = size + 1
    size += 2
    offsets[objstm] = len(out)
    out += b"%d 0 obj\n%s\nendobj\n" % (
        objstm,
        stream(data, b" /Type /ObjStm /N %d /First %d" % (len(order), len(head)), compress_packed),
    )
    offsets[xref_number] = len(out)
    rows = bytearray()
    for number in range(size):
        if number in offsets:
            rows += bytes([1]) + offsets[number].to_bytes(4, "big") + b"\x00\x00"
        elif number in packed:
            rows += bytes([2]) + objstm.to_bytes(4, "big") + order.index(number).to_bytes(2, "big")
        else:
            rows += bytes([0]) + b"\x00\x00\x00\x00\xff\xff"
    extra = b" /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R%s" % (size, info_ref)
    out += b"%d 0 obj\n%s\nendobj\n" % (xref_number, stream(bytes(rows), extra))
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_number]
    return bytes(out)
