"""A sandbox warehouse that behaves like the real ones.

It accepts a line when its stock is there; even then it misses FBS_SANDBOX_MISS_RATE of the time,
as real warehouses do when their feed lags the shelf; a call takes FBS_SANDBOX_LATENCY_SECONDS
(however many lines it carries: the warehouses of one call are asked at the same time), a line
fails with a transport error FBS_SANDBOX_ERROR_RATE of the time, and tracking is reported
FBS_SANDBOX_TRACKING_SECONDS after accepting. Each answer is remembered by its idempotency key.
"""

import hashlib
import random
import time
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from inventory.models import Stock
from orders.connectors import ConnectorError, Placement, PlacementRequest
from orders.models import SandboxPlacement


def _draw(key: str, salt: str) -> float:
    """A number in [0, 1) fixed by the key: the same request always draws the same luck."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _remembered(keys) -> dict[str, Placement]:
    return {
        key: Placement(accepted, message, reference)
        for key, accepted, message, reference in SandboxPlacement.objects.filter(
            key__in=keys
        ).values_list("key", "accepted", "message", "reference")
    }


class SandboxConnector:
    def place_many(self, requests: list[PlacementRequest]) -> list[Placement | ConnectorError]:
        keys = [request.idempotency_key for request in requests]
        answers: dict[str, Placement | ConnectorError] = dict(_remembered(keys))
        fresh = [request for request in requests if request.idempotency_key not in answers]
        if not fresh:
            return [answers[key] for key in keys]
        if settings.FBS_SANDBOX_LATENCY_SECONDS:
            time.sleep(settings.FBS_SANDBOX_LATENCY_SECONDS)
        # The shelves of every item asked for, at every warehouse asked: a few rows more than
        # the pairs asked, in one indexed query.
        shelves = Stock.objects.filter(
            item_id__in={request.line.item_id for request in fresh},
            warehouse_id__in={request.warehouse.pk for request in fresh},
        ).values_list("warehouse_id", "item_id", "qty")
        on_hand = Counter({(warehouse_id, item_id): qty for warehouse_id, item_id, qty in shelves})
        new = []
        for request in fresh:
            key, line = request.idempotency_key, request.line
            if random.random() < settings.FBS_SANDBOX_ERROR_RATE:  # noqa: S311 - simulated fault
                answers[key] = ConnectorError(f"{request.warehouse.code} did not answer in time.")
                continue
            shelf = (request.warehouse.pk, line.item_id)
            if on_hand[shelf] < line.qty:
                accepted, message = False, "out of stock."
            elif _draw(key, "miss") < settings.FBS_SANDBOX_MISS_RATE:
                accepted, message = False, "the shelf was empty (its feed was behind)."
            else:
                accepted, message = True, "accepted."
                # Two lines of one call share the shelf.
                on_hand[shelf] -= line.qty
            reference = "WO-" + hashlib.sha256(key.encode()).hexdigest()[:12].upper()
            new.append(
                SandboxPlacement(
                    key=key,
                    accepted=accepted,
                    message=message,
                    reference=reference if accepted else "",
                )
            )
        if new:
            # The warehouse's own memory. A key another process answered at the same moment
            # keeps that answer, and that is the one given (read back).
            SandboxPlacement.objects.bulk_create(new, ignore_conflicts=True)
            answers.update(_remembered([answer.key for answer in new]))
        return [answers[key] for key in keys]

    def tracking(self, *, warehouse, idempotency_key: str) -> str | None:
        placement = SandboxPlacement.objects.filter(key=idempotency_key, accepted=True).first()
        if placement is None:
            return None
        ready = placement.created_at + timedelta(seconds=settings.FBS_SANDBOX_TRACKING_SECONDS)
        if timezone.now() < ready:
            return None
        return "1Z" + hashlib.sha256(f"track:{idempotency_key}".encode()).hexdigest()[:16].upper()
