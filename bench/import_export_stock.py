"""(e) django-import-export loading feed rows into the same tables, two ways.

- Stock only (`measure_import_export`, kept from the first runs): 100,000 rows of distinct, already
  existing items into one fresh warehouse's Stock. It creates no item and sums nothing, so it does
  less per row than the first load (b).
- The first load's work (`measure_import_export_first_load`): every row of one item in 28 from all
  250 feeds (the first load's files and rows per item at a 28th of the size), into an inventory
  where those items are new: the items with their aggregates (summed in Python from the datasets,
  as import-export has no way to), then each warehouse's stock.

Both are tuned as import-export's "Bulk imports" docs advise: use_bulk with the default batch_size
(the docs found batch_size=None always worse), skip_diff (so skip_unchanged, which needs the diff,
stays off), force_init_instance because every row is new (no instance lookups), no full_clean,
and a foreign-key widget that reads the items once per import instead of once per row.
"""

import time
from decimal import ROUND_HALF_UP, Decimal

import tablib
from django.conf import settings
from django.db import connection
from django.utils import timezone
from import_export import fields, resources, widgets

from inventory.models import Item, Stock, Warehouse, normalise_part_number

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


class _Tuned:
    """The options import-export's "Bulk imports" docs advise, shared by both resources."""

    use_bulk = True
    batch_size = 1000
    skip_diff = True
    skip_unchanged = False
    force_init_instance = True
    clean_model_instances = False


class StockResource(resources.ModelResource):
    item = fields.Field(attribute="item_id", column_name="part_number", widget=ItemKeyWidget())
    qty = fields.Field(attribute="qty", column_name="qty", widget=widgets.IntegerWidget())
    cost = fields.Field(attribute="cost", column_name="cost", widget=widgets.DecimalWidget())

    class Meta(_Tuned):
        model = Stock
        fields = ("item", "qty", "cost")

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


# The first load already holds every item of the sample: prefixed, its line codes are new ones
# (still within the 10 characters of a line code).
NEW_LINE_CODE_PREFIX = "IE"
CENT = Decimal("0.01")


def with_new_line_codes(files: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The sample's CSV texts with every line code prefixed (the first column of the feeds)."""
    return [
        (code, "\n".join(
            line if n == 0 or not line else NEW_LINE_CODE_PREFIX + line
            for n, line in enumerate(text.split("\n"))
        ))
        for code, text in files
    ]  # fmt: skip


class ItemResource(resources.ModelResource):
    class Meta(_Tuned):
        model = Item
        fields = (
            "line_code", "part_number", "part_number_norm", "description", "price", "stock_qty",
            "committed_qty", "available_qty",
        )  # fmt: skip
        import_id_fields = ("line_code", "part_number")


def _items_dataset(datasets: list[tablib.Dataset]) -> tablib.Dataset:
    """One row per item of the feeds, with what the first load stores: stock summed over the
    warehouses, the price from the cheapest in stock, the last file's description."""
    totals: dict[tuple[str, str], list] = {}
    for dataset in datasets:
        for line_code, part_number, qty, cost, description in dataset:
            key = (line_code.strip().upper(), part_number.strip().upper())
            qty, cost, description = int(qty), Decimal(cost), description.strip()
            item = totals.setdefault(key, [0, None, ""])
            item[0] += qty
            if qty > 0 and (item[1] is None or cost < item[1]):
                item[1] = cost
            if description:
                item[2] = description
    markup = Decimal(settings.FBS_PRICE_MARKUP)
    items = tablib.Dataset(headers=list(ItemResource.Meta.fields))
    for (line_code, part_number), (qty, cost, description) in totals.items():
        price = (cost * markup).quantize(CENT, rounding=ROUND_HALF_UP) if cost else Decimal(0)
        items.append(
            (line_code, part_number, normalise_part_number(part_number), description, price,
             qty, 0, qty)
        )  # fmt: skip
    return items


def measure_import_export_first_load(files: list[tuple[str, str]], *, rows: int) -> dict:
    """Items, then each warehouse's stock, through import-export, timed from the CSV texts to
    committed rows; everything it created is deleted after."""
    started = time.perf_counter()
    datasets = [tablib.Dataset().load(text, format="csv") for _, text in files]
    loaded = time.perf_counter()
    items = _items_dataset(datasets)
    summed = time.perf_counter()
    item_result = ItemResource().import_data(items, raise_errors=True)
    items_done = time.perf_counter()
    warehouses = []
    for (code, _), dataset in zip(files, datasets, strict=True):
        warehouse = Warehouse.objects.create(code=f"{NEW_LINE_CODE_PREFIX}-{code}", name=code)
        warehouses.append(warehouse)
        StockResource(warehouse=warehouse).import_data(dataset, raise_errors=True)
    # As the import does: each warehouse's feed is fresh, so its stock counts.
    Warehouse.objects.filter(pk__in=[w.pk for w in warehouses]).update(
        last_feed_at=timezone.now(), counts_in_stock=True
    )
    seconds = time.perf_counter() - started
    try:
        written = Stock.objects.filter(warehouse__in=warehouses).count()
        created = Item.objects.filter(line_code__startswith=NEW_LINE_CODE_PREFIX).count()
        return {
            "seconds": seconds,
            "rows": rows,
            "files": len(files),
            "parse_seconds": loaded - started,
            "sum_seconds": summed - loaded,
            "items_seconds": items_done - summed,
            "stock_seconds": seconds - (items_done - started),
            "items_created": created,
            "rows_written": written,
            "item_totals": {kind: n for kind, n in item_result.totals.items() if n},
        }
    finally:
        Stock.objects.filter(warehouse__in=warehouses).delete()
        Item.objects.filter(line_code__startswith=NEW_LINE_CODE_PREFIX).delete()
        Warehouse.objects.filter(pk__in=[w.pk for w in warehouses]).delete()
