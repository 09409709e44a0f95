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
DEMO_STAFF = [
    # username, group, superuser
    ("support", "Support", False),
    ("finance", "Finance", False),
    ("admin", None, True),
]


class Command(BaseCommand):
    help = "Create demo affiliates and staff (safe to run again) and print their logins."

    @transaction.atomic
    def handle(self, *args, **opts):
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

        self.stdout.write(
            self.style.SUCCESS(f"Demo data is ready. Logins (password for all: {DEMO_PASSWORD}):")
        )
        for username, what in logins:
            self.stdout.write(f"  {username:<12} {what}")
