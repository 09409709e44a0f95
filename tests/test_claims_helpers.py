"""Helpers shared by the claims tests (no tests of its own): voided lines made through the order
services, receipts made in the test (PNG, JPEG, PDF), and private storage in a temporary folder
so no test writes under var/."""

import io
import itertools
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

from django.core.files.uploadedfile import SimpleUploadedFile

from claims import services
from orders import services as order_services
from tests.factories import CardFactory, UserFactory, import_feed

SHIP_TO = {
    "name": "Ann Buyer",
    "address1": "1 Main St",
    "city": "Plano",
    "state": "TX",
    "postal_code": "75024",
}


def use_private_storage(settings, tmp_path):
    """Receipts go to a folder of this test's own. Each claims test module calls it from an
    autouse fixture named private_storage."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }
    return tmp_path / "private"


@contextmanager
def clock_at(moment):
    """Run everything as if it were `moment` (orders placed then, claims filed then)."""
    if moment is None:
        yield
        return
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def stored_files(folder) -> list:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def make_user(*, min_stock: int = 3, card: bool = True, user=None):
    if user is None:
        user = UserFactory(affiliate__min_stock=min_stock)
    if card:
        CardFactory(affiliate=user.affiliate)
    return user


def stock(parts=("P1", "P2", "P3")):
    import_feed("WH1", [("ACD", part, 50, "20.00") for part in parts])


def place(user, *parts, number: str = "M-1"):
    return order_services.order_place(
        affiliate=user.affiliate,
        user=user,
        marketplace="ebay",
        marketplace_order_id=number,
        ship_to=SHIP_TO,
        lines=[{"line_code": "ACD", "part_number": part, "qty": 1} for part in parts or ("P1",)],
    )


def release(order):
    order_services.order_release_due(now=order.release_at + timedelta(seconds=1))
    order.refresh_from_db()
    return order


def void_lines(order, *lines):
    """Void lines of a released order, as a miss at every warehouse does; then settle it."""
    for line in lines or order.lines.all():
        order_services.order_line_void(line=line, order=order)
    order_services.order_settle(order_id=order.pk)
    order.refresh_from_db()
    return order


def voided_line(*, min_stock: int = 3, card: bool = True, user=None, number: str = "M-1"):
    """(user, order, line): an order of one line, paid when a card is on file, voided by FBS."""
    stock()
    user = user or make_user(min_stock=min_stock, card=card)
    order = place(user, "P1", number=number)
    if order.status == order.Status.AWAITING_PAYMENT:
        # No card: the affiliate paid by hand with a card it then removed from file.
        card_method = CardFactory(affiliate=user.affiliate)
        order_services.order_pay(order=order, user=user)
        card_method.delete()
        order.refresh_from_db()
    release(order)
    void_lines(order)
    return user, order, order.lines.get()


def png_bytes(size=(60, 40), color="white", **save) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG", **save)
    return out.getvalue()


def jpeg_bytes(size=(60, 40)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, "white").save(out, format="JPEG")
    return out.getvalue()


def pdf_bytes(*, javascript: str | None = None, password: str | None = None, attach=None) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if javascript:
        # A document-level script, as a name tree under /Names /JavaScript.
        action = writer._add_object(
            DictionaryObject(
                {
                    NameObject("/S"): NameObject("/JavaScript"),
                    NameObject("/JS"): TextStringObject(javascript),
                }
            )
        )
        tree = DictionaryObject(
            {NameObject("/Names"): ArrayObject([TextStringObject("receipt"), action])}
        )
        writer._root_object[NameObject("/Names")] = writer._add_object(
            DictionaryObject({NameObject("/JavaScript"): tree})
        )
    if attach:
        writer.add_attachment(*attach)
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


_colors = itertools.count(1)


def unique_png() -> bytes:
    """A PNG no other call returns: claims that should not share a receipt do not."""
    n = next(_colors)
    return png_bytes(color=(n % 256, n // 256 % 256, 200))


def upload(name: str = "receipt.png", data: bytes | None = None, content_type: str = "image/png"):
    return SimpleUploadedFile(name, unique_png() if data is None else data, content_type)


def file_claim(user, line, *, amount="40.00", receipt="default", **kwargs):
    from django.utils import timezone

    return services.claim_file(
        affiliate=user.affiliate,
        user=user,
        order_id=line.order_id,
        line_id=line.pk,
        supplier_name=kwargs.pop("supplier_name", "Main St Dealer"),
        purchased_on=kwargs.pop("purchased_on", timezone.localdate()),
        amount=amount,
        receipt=upload() if receipt == "default" else receipt,
        **kwargs,
    )
