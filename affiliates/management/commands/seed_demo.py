from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from affiliates.models import Affiliate, Marketplace, User
from affiliates.services import affiliate_create, payment_method_add_card

# Demo logins. They exist only in demo data; `seed_demo` never runs in production settings.
DEMO_PASSWORD = "fbs-demo-2026"  # noqa: S105
DEMO_CARD = "4242424242424242"
DEMO_CARD_EXPIRY = (12, 2030)

DEMO_AFFILIATES = [
    # username, company, min stock, card on file, marketplaces
    ("ebay-parts", "Parts Express Online", 2, True, [Marketplace.EBAY]),
    ("rapid-auto", "Rapid Auto Supply", 3, True, [Marketplace.EBAY, Marketplace.AMAZON]),
    ("new-garage", "New Garage Direct", 2, False, [Marketplace.OWN_SITE]),
]
# A realistic small inventory: tens of warehouses, tens of thousands of items.
DEMO_WAREHOUSES = 30
DEMO_ITEMS = 20_000
DEMO_STAFF = [
    # username, group, superuser
    ("support", "Support", False),
    ("finance", "Finance", False),
    ("admin", None, True),
]


class Command(BaseCommand):
    help = "Create demo affiliates and staff (safe to run again) and print their logins."

    def handle(self, *args, **opts):
        logins = self.seed_accounts()
        self.seed_inventory()
        from claims.demo import seed_claims

        seed_claims(stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(f"Demo data is ready. Logins (password for all: {DEMO_PASSWORD}):")
        )
        for username, what in logins:
            self.stdout.write(f"  {username:<12} {what}")

    def seed_inventory(self):
        from inventory.demo import demo_warehouses, write_demo_feeds
        from inventory.models import FeedImport, Item
        from inventory.services import feed_import_create, feed_import_run, warehouse_register

        if Item.objects.exists():
            return
        for warehouse in demo_warehouses(DEMO_WAREHOUSES):
            warehouse_register(
                code=warehouse.code,
                name=f"Warehouse {warehouse.code} ({warehouse.state})",
                state=warehouse.state,
                postal_code=warehouse.postal_code,
            )
        folder = Path(settings.VAR_DIR) / "demo_feeds"
        self.stdout.write(f"Writing and importing demo feeds ({DEMO_ITEMS:,} items)...")
        for path in write_demo_feeds(folder, warehouses=DEMO_WAREHOUSES, items=DEMO_ITEMS):
            with path.open("rb") as fileobj:
                result = feed_import_run(
                    feed_import=feed_import_create(file_name=path.name, warehouse_code=path.stem),
                    fileobj=fileobj,
                )
            if result.status != FeedImport.Status.APPLIED:
                self.stderr.write(f"{path.name}: {result.error}")
        visible = Item.objects.filter(available_qty__gte=settings.FBS_MIN_VISIBLE_QTY).count()
        self.stdout.write(f"Inventory: {Item.objects.count():,} items, {visible:,} listed.")

    @transaction.atomic
    def seed_accounts(self):
        logins = []
        for username, company, min_stock, with_card, marketplaces in DEMO_AFFILIATES:
            user = User.objects.filter(username=username).first()
            if user is None:
                affiliate, user = affiliate_create(
                    username=username,
                    password=DEMO_PASSWORD,
                    company=company,
                    email=f"{username}@example.com",
                    min_stock=min_stock,
                    marketplaces=marketplaces,
                )
                if with_card:
                    payment_method_add_card(
                        affiliate=affiliate,
                        number=DEMO_CARD,
                        exp_month=DEMO_CARD_EXPIRY[0],
                        exp_year=DEMO_CARD_EXPIRY[1],
                    )
            affiliate = Affiliate.objects.get(pk=user.affiliate_id)
            note = f"min stock {affiliate.min_stock}, " + (
                "card on file" if affiliate.payment_methods.exists() else "no payment method"
            )
            logins.append((username, f"affiliate {affiliate.name} ({note})"))

        for username, group_name, superuser in DEMO_STAFF:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username, email=f"{username}@example.com", is_staff=True)
                user.is_superuser = superuser
                user.set_password(DEMO_PASSWORD)
                user.save()
            if group_name:
                user.groups.add(Group.objects.get(name=group_name))
            logins.append((username, "superuser" if superuser else f"staff, {group_name} group"))
        return logins
