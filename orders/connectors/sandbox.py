"""A sandbox warehouse that behaves like the real ones.

It accepts a line when its stock is there; even then it misses FBS_SANDBOX_MISS_RATE of the time,
as real warehouses do when their feed lags the shelf; it takes FBS_SANDBOX_LATENCY_SECONDS per
call, fails with a transport error FBS_SANDBOX_ERROR_RATE of the time, and reports tracking
FBS_SANDBOX_TRACKING_SECONDS after accepting. Each answer is remembered by its idempotency key.
"""

import hashlib
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from inventory.models import Stock
from orders.connectors import ConnectorError, Placement
from orders.models import SandboxPlacement


def _draw(key: str, salt: str) -> float:
    """A number in [0, 1) fixed by the key: the same request always draws the same luck."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _remember(answer: SandboxPlacement) -> bool:
    """Keep the answer, the warehouse's own memory; False when its key has one already (another
    process asked the same at the same moment)."""
    try:
        if connection.in_atomic_block:
            # A savepoint: the caller's transaction survives a duplicate key.
            with transaction.atomic():
                answer.save(force_insert=True)
        else:
            # Fulfillment asks outside any transaction: one statement, committed on its own.
            answer.save(force_insert=True)
    except IntegrityError:
        return False
    return True


class SandboxConnector:
    def place(self, *, warehouse, line, idempotency_key: str) -> Placement:
        previous = (
            SandboxPlacement.objects.filter(key=idempotency_key)
            .values_list("accepted", "message", "reference")
            .first()
        )
        if previous is not None:
            return Placement(*previous)
        if settings.FBS_SANDBOX_LATENCY_SECONDS:
            time.sleep(settings.FBS_SANDBOX_LATENCY_SECONDS)
        if random.random() < settings.FBS_SANDBOX_ERROR_RATE:  # noqa: S311 - simulated fault
            raise ConnectorError(f"{warehouse.code} did not answer in time.")
        on_hand = (
            Stock.objects.filter(warehouse=warehouse, item_id=line.item_id)
            .values_list("qty", flat=True)
            .first()
        )
        if not on_hand or on_hand < line.qty:
            accepted, message = False, "out of stock."
        elif _draw(idempotency_key, "miss") < settings.FBS_SANDBOX_MISS_RATE:
            accepted, message = False, "the shelf was empty (its feed was behind)."
        else:
            accepted, message = True, "accepted."
        reference = "WO-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:12].upper()
        answer = SandboxPlacement(
            key=idempotency_key,
            accepted=accepted,
            message=message,
            reference=reference if accepted else "",
        )
        if not _remember(answer):
            previous = SandboxPlacement.objects.get(key=idempotency_key)
            return Placement(previous.accepted, previous.message, previous.reference)
        return Placement(accepted, message, reference if accepted else "")

    def tracking(self, *, warehouse, idempotency_key: str) -> str | None:
        placement = SandboxPlacement.objects.filter(key=idempotency_key, accepted=True).first()
        if placement is None:
            return None
        ready = placement.created_at + timedelta(seconds=settings.FBS_SANDBOX_TRACKING_SECONDS)
        if timezone.now() < ready:
            return None
        return "1Z" + hashlib.sha256(f"track:{idempotency_key}".encode()).hexdigest()[:16].upper()
