"""50 affiliates at once: browse and search the catalog, download feeds, place, pay and cancel
orders, file claims. Run by `make loadtest` (loadtest/run.py), which prepares the system and
the users file this reads."""

import io
import itertools
import json
import os
import random
import re
import threading
import time
import uuid
from datetime import date
from pathlib import Path

from locust import HttpUser, between, task

USERS = json.loads(Path(os.environ.get("FBS_LOAD_USERS", "loadtest/data/users.json")).read_text())
_next_user = itertools.count()
_lock = threading.Lock()
SHIP = {
    "name": "Load Buyer",
    "address1": "100 Main St",
    "city": "Dallas",
    "state": "TX",
    "postal_code": "75201",
    "country": "US",
}


def _receipt_png() -> bytes:
    """A small real PNG, made with Pillow: the receipt for claims."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 200), "white")
    ImageDraw.Draw(image).text((10, 10), "Local Parts Co - receipt", fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


PNG = _receipt_png()


class Affiliate(HttpUser):
    wait_time = between(1, 3)

    def on_start(self):
        # Locust starts a second's worth of users (10) at the same instant; affiliates arriving
        # at 10 a second arrive at random moments of that second. Without this, each second's
        # ten log-ins hash ten passwords at once (Argon2id: 18 ms of CPU, 25 ms wall, each).
        time.sleep(random.uniform(0, 1))
        with _lock:
            self.me = USERS["affiliates"][next(_next_user) % len(USERS["affiliates"])]
        self.api = {"Authorization": f"Bearer {self.me['api_key']}"}
        self.parts = USERS["parts"]
        self.orders = []
        self.client.get("/login/", name="/login/")
        token = self.client.cookies.get("csrftoken", "")
        self.client.post(
            "/login/",
            {"username": self.me["username"], "password": self.me["password"],
             "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.host}/login/"},
            name="/login/ [POST]",
        )  # fmt: skip

    # --- catalog --------------------------------------------------------------------------

    @task(5)
    def browse_catalog(self):
        self.client.get("/catalog/", name="/catalog/")

    @task(5)
    def search_catalog_page(self):
        part = random.choice(self.parts)
        prefix = re.sub(r"[^0-9A-Z]", "", part["part_number"].upper())[: random.randint(3, 6)]
        self.client.get(f"/catalog/?search={prefix}", name="/catalog/?search=")

    @task(3)
    def search_catalog_api(self):
        part = random.choice(self.parts)
        self.client.get(
            f"/api/v1/catalog?search={part['part_number']}",
            headers=self.api,
            name="/api/v1/catalog?search=",
        )

    @task(1)
    def download_feed(self):
        # The whole body is read: the time is the full download, not the first byte.
        self.client.get("/api/v1/catalog.csv", headers=self.api, name="/api/v1/catalog.csv")

    # --- orders ---------------------------------------------------------------------------

    def _place(self):
        lines = [
            {"line_code": p["line_code"], "part_number": p["part_number"], "qty": 1}
            for p in random.sample(self.parts, random.randint(1, 2))
        ]
        body = {
            "marketplace": random.choice(["ebay", "amazon", "own_site"]),
            "marketplace_order_id": uuid.uuid4().hex[:20],
            "ship_to": SHIP,
            "lines": lines,
        }
        response = self.client.post(
            "/api/v1/orders",
            json=body,
            headers={**self.api, "Idempotency-Key": uuid.uuid4().hex},
            name="/api/v1/orders [POST]",
        )
        if response.status_code == 201:
            order = response.json()
            self.orders.append(order["id"])
            self.orders = self.orders[-50:]
            return order
        return None

    @task(4)
    def place_order(self):
        if self.me["has_card"]:
            self._place()
        else:
            self._place_and_pay()

    def _place_and_pay(self):
        """An affiliate without a card on file: the order waits; it adds a card, pays, and
        takes the card off file again."""
        order = self._place()
        if order is None or order["status"] != "awaiting_payment":
            return
        card = self.client.post(
            "/api/v1/payment-methods",
            json={"kind": "card", "number": "4242424242424242", "expiry": "12/39"},
            headers=self.api,
            name="/api/v1/payment-methods [POST]",
        )
        self.client.post(
            f"/api/v1/orders/{order['id']}/pay", headers=self.api, name="/api/v1/orders/{id}/pay"
        )
        if card.status_code == 201:
            self.client.delete(
                f"/api/v1/payment-methods/{card.json()['id']}",
                headers=self.api,
                name="/api/v1/payment-methods/{id} [DELETE]",
            )

    @task(2)
    def cancel_request(self):
        if not self.orders:
            return
        order_id = random.choice(self.orders[-5:])
        self.client.post(
            f"/api/v1/orders/{order_id}/cancel-request",
            json={"reason": "buyer changed their mind"},
            headers=self.api,
            name="/api/v1/orders/{id}/cancel-request",
        )

    @task(2)
    def order_pages(self):
        self.client.get("/orders/", name="/orders/")
        if self.orders:
            self.client.get(f"/orders/{random.choice(self.orders)}/", name="/orders/{id}/")

    @task(2)
    def orders_api(self):
        self.client.get("/api/v1/orders?limit=20", headers=self.api, name="/api/v1/orders")
        if self.orders:
            self.client.get(
                f"/api/v1/orders/{random.choice(self.orders)}",
                headers=self.api,
                name="/api/v1/orders/{id}",
            )

    # --- claims ---------------------------------------------------------------------------

    @task(1)
    def file_claim(self):
        orders = []
        for status in ("voided", "partially_voided"):
            response = self.client.get(
                f"/api/v1/orders?status={status}&limit=20",
                headers=self.api,
                name=f"/api/v1/orders?status={status}",
            )
            if response.status_code == 200:
                orders += response.json().get("results", [])
        for order in orders:
            for line in order["lines"]:
                if line["status"] != "voided" or line["id"] in self.me.setdefault("claimed", []):
                    continue
                self.me["claimed"].append(line["id"])
                self.client.post(
                    "/api/v1/claims",
                    data={
                        "order": order["id"],
                        "line": line["id"],
                        "supplier_name": "Local Parts Co",
                        "purchased_on": date.today().isoformat(),
                        "amount": f"{random.uniform(20, 140):.2f}",
                    },
                    files={"receipt": ("receipt.png", io.BytesIO(PNG), "image/png")},
                    headers=self.api,
                    name="/api/v1/claims [POST]",
                )
                return
