"""Demo claims in every status, made through the real services: orders placed and paid for the
demo affiliates, released, their lines voided (as if no warehouse had stock), and claims filed
with generated receipt images, then reviewed, decided and paid by the demo staff.

"rapid-auto" (min stock 3, card on file) gets claims approved at filing; "ebay-parts" (min stock
2) gets claims that need a review. Safe to run again: nothing is made once any claim exists.
"""

import io
from datetime import timedelta
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from affiliates.models import User
from claims import services
from claims.models import Claim
from inventory.models import Item
from orders import services as order_services
from orders.models import Order

SHIP_TO = {
    "name": "Dana Buyer",
    "address1": "400 Elm St",
    "city": "Austin",
    "state": "TX",
    "postal_code": "78701",
}
# (affiliate username, dealer, amount, with a receipt, what happens after filing)
PLANS = [
    ("rapid-auto", "Austin Auto Parts", "64.80", True, None),
    ("rapid-auto", "Capitol Parts Co.", "45.00", True, "pay"),
    ("rapid-auto", "Lone Star Dealer Supply", "182.40", True, None),
    ("ebay-parts", "Northside Auto", "38.50", True, "approve_less"),
    ("ebay-parts", "Main Street Motors", "72.00", True, "ask"),
    ("ebay-parts", "Quick Parts Depot", "55.00", True, "deny"),
    ("ebay-parts", "Corner Garage", "29.99", False, None),
]


def receipt_png(*, supplier: str, amount: str, number: int) -> bytes:
    """A small receipt image, different for each claim (so no two share a hash)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (420, 300), "white")
    draw = ImageDraw.Draw(image)
    lines = [
        supplier.upper(),
        f"Receipt no. {40000 + number}",
        f"Date: {timezone.localdate():%m/%d/%Y}",
        "1 x replacement part",
        f"TOTAL  ${amount}",
        "Thank you!",
    ]
    for row, text in enumerate(lines):
        draw.text((24, 24 + row * 40), text, fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _voided_line(user, number: int, item: Item):
    """An order of one line, paid, released and voided: what a miss at every warehouse does."""
    order = order_services.order_place(
        affiliate=user.affiliate,
        user=user,
        marketplace="ebay",
        marketplace_order_id=f"DEMO-CLAIM-{number}",
        ship_to=SHIP_TO,
        lines=[{"line_code": item.line_code, "part_number": item.part_number, "qty": 1}],
    )
    if order.status != Order.Status.QUEUED:
        return None
    # One transaction: the fulfillment task the release queues is sent only after the lines are
    # voided, so a running worker finds nothing left to route.
    with transaction.atomic():
        order_services.order_release_due(now=order.release_at + timedelta(seconds=1))
        order.refresh_from_db()
        for line in order.lines.all():
            order_services.order_line_void(line=line, order=order)
    order_services.order_settle(order_id=order.pk)
    return order.lines.get()


def seed_claims(*, stdout=None) -> int:
    """Make the demo claims; return how many (0 when claims exist or the demo data is not there)."""
    if Claim.objects.exists():
        return 0
    users = {u.username: u for u in User.objects.filter(username__in={p[0] for p in PLANS})}
    staff = {u.username: u for u in User.objects.filter(username__in=["support", "finance"])}
    items = list(Item.objects.filter(available_qty__gte=10).order_by("pk")[: len(PLANS)])
    if len(users) < 2 or len(items) < len(PLANS):
        return 0
    made = []
    for number, (username, dealer, amount, with_receipt, then) in enumerate(PLANS, start=1):
        user = users[username]
        line = _voided_line(user, number, items[number - 1])
        if line is None:
            continue
        receipt = None
        if with_receipt:
            receipt = SimpleUploadedFile(
                f"receipt-{number}.png",
                receipt_png(supplier=dealer, amount=amount, number=number),
                content_type="image/png",
            )
        claim = services.claim_file(
            affiliate=user.affiliate,
            user=user,
            order_id=line.order_id,
            line_id=line.pk,
            supplier_name=dealer,
            purchased_on=timezone.localdate(),
            amount=Decimal(amount),
            receipt=receipt,
        )
        reviewer = staff.get("support")
        if then == "approve_less":
            services.claim_approve(
                claim_id=claim.pk,
                user=reviewer,
                amount=Decimal("30.00"),
                note="The dealer's rush fee is not covered; the part itself is.",
            )
        elif then == "ask":
            services.claim_request_info(
                claim_id=claim.pk,
                user=reviewer,
                message="The receipt shows no part number. Please send the dealer's invoice "
                "with the part number on it.",
            )
        elif then == "deny":
            services.claim_deny(
                claim_id=claim.pk,
                user=reviewer,
                reason="The receipt is for a different part than the voided line.",
            )
        elif then == "pay":
            services.claims_mark_paid(
                claim_ids=[claim.pk], user=staff.get("finance"), note="Demo payout"
            )
        made.append(claim)
    if stdout is not None:
        counts = {}
        for claim in Claim.objects.all():
            counts[claim.get_status_display()] = counts.get(claim.get_status_display(), 0) + 1
        stdout.write(
            "Claims: " + ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
        )
    return len(made)
