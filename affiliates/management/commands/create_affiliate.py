from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from affiliates.models import MIN_STOCK_FLOOR
from affiliates.services import affiliate_create, parse_card_expiry, payment_method_add_card
from sophio_fbs.errors import DomainError


class Command(BaseCommand):
    help = "Create an affiliate account with its first user, and optionally a card on file."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument(
            "--email", help="Contact and login email (default USERNAME@example.com)"
        )
        parser.add_argument("--company", help="Company name (default: the username)")
        parser.add_argument("--min-stock", type=int, default=MIN_STOCK_FLOOR)
        parser.add_argument(
            "--card", help="Card number to keep on file (sandbox: 4242424242424242)"
        )
        parser.add_argument("--card-expiry", help="Card expiry, MM/YY")

    def handle(
        self, *args, username, password, email, company, min_stock, card, card_expiry, **opts
    ):
        if bool(card) != bool(card_expiry):
            raise CommandError("--card and --card-expiry go together.")
        try:
            with transaction.atomic():
                affiliate, user = affiliate_create(
                    username=username,
                    password=password,
                    email=email or f"{username}@example.com",
                    company=company or username,
                    min_stock=min_stock,
                )
                method = None
                if card:
                    exp_month, exp_year = parse_card_expiry(card_expiry)
                    method = payment_method_add_card(
                        affiliate=affiliate, number=card, exp_month=exp_month, exp_year=exp_year
                    )
        except DomainError as exc:
            where = f" ({exc.field})" if exc.field else ""
            raise CommandError(f"Nothing was created{where}: {exc.message}") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Created affiliate {affiliate.name!r} (min stock {affiliate.min_stock}) "
                f"with user {user.username!r}"
                + (f" and {method.masked} on file." if method else ", no payment method on file.")
            )
        )
