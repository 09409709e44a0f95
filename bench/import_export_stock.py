"""(e) django-import-export loading the same feed rows into the same Stock table.

Tuned as its "Bulk imports" docs advise: use_bulk with the default batch_size (the docs found
batch_size=None always worse), skip_diff (so skip_unchanged, which needs the diff, stays off),
force_init_instance because every row is new to a fresh warehouse (no instance lookups), no
full_clean, and a foreign-key widget that reads the items once per import instead of once per row.
"""

import time

import tablib
from django.db import connection
from django.utils import timezone
from import_export import fields, resources, widgets

from inventory.models import Item, Stock, Warehouse

BENCH_WAREHOUSE = "BENCH-IE"


class ItemKeyWidget(widgets.ForeignKeyWidget):
    """The item of a row by its line code and part number, from a dict loaded once per import."""

    def __init__(self):
        super().__init__(Item, field="part_number", key_is_id=True)
        self.ids: dict[tuple[str, str], int] = {}

    def load(self, line_codes: list[str], part_numbers: list[str]) -> None:
        keys = sorted(
            {
                (lc.strip().upper(), pn.strip().upper())
                for lc, pn in zip(line_codes, part_numbers, strict=True)
            }
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.line_code, i.part_number, i.id FROM inventory_item i "
                "JOIN unnest(%s::text[], %s::text[]) AS k(line_code, part_number) "
                "ON i.line_code = k.line_code AND i.part_number = k.part_number",
                [[k[0] for k in keys], [k[1] for k in keys]],
            )
            self.ids = {(lc, pn): item_id for lc, pn, item_id in cursor.fetchall()}

    def clean(self, value, row=None, **kwargs):
        key = (row["line_code"].strip().upper(), value.strip().upper())
        try:
            return self.ids[key]
        except KeyError:
            raise ValueError(f"No item {key[0]} {key[1]}.") from None


class StockResource(resources.ModelResource):
    item = fields.Field(attribute="item_id", column_name="part_number", widget=ItemKeyWidget())
    qty = fields.Field(attribute="qty", column_name="qty", widget=widgets.IntegerWidget())
    cost = fields.Field(attribute="cost", column_name="cost", widget=widgets.DecimalWidget())

    class Meta:
        model = Stock
        fields = ("item", "qty", "cost")
        use_bulk = True
        batch_size = 1000
        skip_diff = True
        skip_unchanged = False
        force_init_instance = True
        clean_model_instances = False

    def __init__(self, *, warehouse: Warehouse, **kwargs):
        super().__init__(**kwargs)
        self.warehouse = warehouse
        self.now = timezone.now()

    def init_instance(self, row=None):
        return Stock(warehouse=self.warehouse, changed_at=self.now)

    def before_import(self, dataset, **kwargs):
        self.fields["item"].widget.load(dataset["line_code"], dataset["part_number"])


def measure_import_export(csv_text: str, *, rows: int) -> dict:
    """Import `rows` feed rows into a fresh warehouse, timed from CSV text to committed rows."""
    warehouse = Warehouse.objects.create(code=BENCH_WAREHOUSE, name="django-import-export")
    try:
        started = time.perf_counter()
        dataset = tablib.Dataset().load(csv_text, format="csv")
        loaded = time.perf_counter()
        result = StockResource(warehouse=warehouse).import_data(dataset, raise_errors=True)
        seconds = time.perf_counter() - started
        written = Stock.objects.filter(warehouse=warehouse).count()
        return {
            "seconds": seconds,
            "parse_seconds": loaded - started,
            "import_data_seconds": seconds - (loaded - started),
            "rows": rows,
            "rows_written": written,
            "totals": {kind: n for kind, n in result.totals.items() if n},
            "has_errors": result.has_errors() or result.has_validation_errors(),
        }
    finally:
        # Its stock never counted (a new warehouse has no fresh feed): nothing else to undo.
        Stock.objects.filter(warehouse=warehouse).delete()
        warehouse.delete()
