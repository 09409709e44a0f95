"""Warehouse connectors: how a line is sent to a warehouse. Chosen by FBS_WAREHOUSE_CONNECTOR."""

from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class ConnectorError(Exception):
    """The warehouse did not answer (timeout, transport error): worth trying again, a few times."""


@dataclass(frozen=True)
class Placement:
    accepted: bool
    message: str
    reference: str = ""


class WarehouseConnector(Protocol):
    def place(self, *, warehouse, line, idempotency_key: str) -> Placement:
        """Ask `warehouse` to ship `line`. The same key always gets the same answer, so a
        retried task never places a line twice."""

    def tracking(self, *, warehouse, idempotency_key: str) -> str | None:
        """The tracking number of an accepted placement, once it has shipped."""


@cache
def _connector_class(path: str):
    return import_string(path)


def get_connector() -> WarehouseConnector:
    return _connector_class(settings.FBS_WAREHOUSE_CONNECTOR)()
