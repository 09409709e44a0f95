"""Synthetic warehouse feeds that look like real ones: for the demo data and the benchmarks.

Quantities are skewed low, as in real feeds: many 0 and 1, a few large. Each item is stocked by a
handful of warehouses, bigger warehouses stocking more.
"""

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# A few real-looking US locations to spread warehouses over.
LOCATIONS = [
    ("TX", "75001"), ("CA", "90001"), ("IL", "60601"), ("GA", "30301"), ("NY", "10001"),
    ("WA", "98101"), ("FL", "33101"), ("OH", "43004"), ("AZ", "85001"), ("CO", "80201"),
    ("PA", "19019"), ("NC", "27513"), ("MI", "48201"), ("TN", "37201"), ("MO", "63101"),
    ("MN", "55401"), ("OR", "97201"), ("NV", "89501"), ("UT", "84101"), ("MA", "02108"),
]  # fmt: skip

KINDS = (
    "Brake pad set", "Oil filter", "Spark plug", "Water pump", "Alternator",
    "Headlamp assembly", "Wheel bearing", "Fuel pump", "Radiator hose", "Timing belt",
)  # fmt: skip
# (upper bound of the draw, qty range): 30% zero, 20% one, 12% two, then ever rarer large ones.
QTY_SPREAD = [
    (0.30, (0, 0)),
    (0.50, (1, 1)),
    (0.62, (2, 2)),
    (0.80, (3, 5)),
    (0.92, (6, 20)),
    (0.98, (21, 100)),
    (1.00, (101, 1000)),
]
# How many warehouses stock one item: averages about 2.6.
WAREHOUSES_PER_ITEM = [(0.35, 1), (0.60, 2), (0.75, 3), (0.85, 4), (0.93, 5), (1.00, 8)]


@dataclass(frozen=True)
class DemoWarehouse:
    code: str
    state: str
    postal_code: str


def demo_warehouses(count: int) -> list[DemoWarehouse]:
    return [
        DemoWarehouse(f"WH{n:03d}", *LOCATIONS[(n - 1) % len(LOCATIONS)])
        for n in range(1, count + 1)
    ]


def _pick(spread, draw):
    for bound, value in spread:
        if draw <= bound:
            return value
    return spread[-1][1]


def demo_items(count: int, rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """(line code, part number, description) for `count` distinct items."""
    line_codes = [f"{a}{b}{c}" for a in "ABCDEFGHJK" for b in "ABCDEFGHJKLMNPRSTUVW" for c in "ABC"]
    styles = ("{p}-{n}", "{n}", "{p}{n}", "{n}.{m}", "{p} {n}-{m}")
    kinds = KINDS
    for i in range(count):
        line_code = line_codes[i % len(line_codes)]
        serial = i // len(line_codes)
        style = styles[serial % len(styles)]
        part = style.format(p=line_code[:2], n=f"{serial:06d}", m=f"{rng.randint(0, 99):02d}")
        yield line_code, part, f"{kinds[rng.randrange(len(kinds))]} {part}"


def write_demo_feeds(folder: Path, *, warehouses: int, items: int, seed: int = 2016) -> list[Path]:
    """Write one CSV feed per warehouse into `folder`; return their paths."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    whs = demo_warehouses(warehouses)
    # Some warehouses are much bigger than others.
    weights = [1 + 9 * rng.random() ** 3 for _ in whs]
    paths = [folder / f"{w.code}.csv" for w in whs]
    handles = [path.open("w", newline="") for path in paths]
    try:
        writers = [csv.writer(h) for h in handles]
        for writer in writers:
            writer.writerow(["line_code", "part_number", "qty", "cost", "description"])
        population = range(len(whs))
        for line_code, part, description in demo_items(items, rng):
            k = min(_pick(WAREHOUSES_PER_ITEM, rng.random()), len(whs))
            chosen = set()
            while len(chosen) < k:
                chosen.update(rng.choices(population, weights=weights, k=k - len(chosen)))
            base_cost = round(rng.lognormvariate(3.0, 1.0), 2) + 1
            for index in chosen:
                low, high = _pick(QTY_SPREAD, rng.random())
                cost = round(base_cost * rng.uniform(0.9, 1.15), 2)
                writers[index].writerow(
                    [line_code, part, rng.randint(low, high), cost, description]
                )
    finally:
        for handle in handles:
            handle.close()
    return paths
