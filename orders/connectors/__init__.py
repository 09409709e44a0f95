"""Warehouse connectors: how lines are sent to warehouses. Chosen by FBS_WAREHOUSE_CONNECTOR."""

from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class ConnectorError(Exception):
    """The warehouse did not answer (timeout, transport error): worth trying again, a few times."""


@dataclass(frozen=True)
class Placement:
    accepted: bool
    message: str
    reference: str = ""


@dataclass(frozen=True)
class PlacementRequest:
    """Ask `warehouse` to ship `line`. The same key always gets the same answer, so a retried
    task never places a line twice."""

    warehouse: Any
    line: Any
    idempotency_key: str


class WarehouseConnector(Protocol):
    def place_many(self, requests: list[PlacementRequest]) -> list[Placement | ConnectorError]:
        """One answer per request, in their order: a Placement, or the ConnectorError of a
        warehouse that did not answer. Fulfillment sends every line it is sourcing at once (a
        real connector groups them per warehouse and calls those at the same time); raising
        ConnectorError means no request was answered."""

    def tracking(self, *, warehouse, idempotency_key: str) -> str | None:
        """The tracking number of an accepted placement, once it has shipped."""


class OneAtATimeConnector:
    """Base for a connector whose warehouses take one line per call: place_many asks them in
    turn through `place`."""

    def place(self, *, warehouse, line, idempotency_key: str) -> Placement:
        raise NotImplementedError

    def place_many(self, requests: list[PlacementRequest]) -> list[Placement | ConnectorError]:
        answers: list[Placement | ConnectorError] = []
        for request in requests:
            try:
                answers.append(
                    self.place(
                        warehouse=request.warehouse,
                        line=request.line,
                        idempotency_key=request.idempotency_key,
                    )
                )
            except ConnectorError as exc:
                answers.append(exc)
        return answers


@cache
def _connector_class(path: str):
    return import_string(path)


def get_connector() -> WarehouseConnector:
    return _connector_class(settings.FBS_WAREHOUSE_CONNECTOR)()
