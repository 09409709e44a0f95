"""The benchmark's input files: synthetic warehouse feeds, a changed copy, a sample of rows."""

import csv
import io
import random
import time
import zlib
from decimal import Decimal
from pathlib import Path

from inventory.demo import write_demo_feeds

DATA_DIR = Path(__file__).resolve().parent / "data"


def ensure_feeds(*, items: int, warehouses: int, seed: int) -> tuple[list[Path], float]:
    """The feed files for this size, generated once and reused; (paths, seconds generating)."""
    folder = DATA_DIR / f"feeds-{items}-{warehouses}-{seed}"
    done = folder / ".complete"
    if done.exists():
        return sorted(folder.glob("*.csv")), 0.0
    started = time.perf_counter()
    paths = write_demo_feeds(folder, warehouses=warehouses, items=items, seed=seed)
    done.write_text("ok\n")
    return sorted(paths), time.perf_counter() - started


def count_rows(path: Path) -> int:
    """Data rows of one feed (lines minus the header); no field holds a line break."""
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1


def write_changed_copy(source: Path, target: Path, *, fraction: float, seed: int) -> int:
    """Copy a feed with `fraction` of its rows changed (qty + 1 or cost + 0.01, half each).

    Returns how many rows changed."""
    with source.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    qty_at, cost_at = header.index("qty"), header.index("cost")
    rng = random.Random(seed)
    chosen = rng.sample(range(len(body)), k=round(len(body) * fraction))
    for index in chosen:
        row = body[index]
        if rng.random() < 0.5:
            row[qty_at] = str(int(row[qty_at]) + 1)
        else:
            row[cost_at] = str(Decimal(row[cost_at]) + Decimal("0.01"))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *body])
    return len(chosen)


def sample_csv(paths: list[Path], *, rows: int) -> tuple[str, int]:
    """The first `rows` distinct items met reading the feeds in order, as one CSV text with the
    feeds' header (one warehouse holds an item once). Returns (text, rows taken)."""
    seen: set[tuple[str, str]] = set()
    out = io.StringIO()
    writer = csv.writer(out)
    header = None
    for path in paths:
        with path.open(newline="") as handle:
            reader = csv.reader(handle)
            file_header = next(reader)
            if header is None:
                header = file_header
                writer.writerow(header)
            for row in reader:
                key = (row[0], row[1])
                if key in seen:
                    continue
                seen.add(key)
                writer.writerow(row)
                if len(seen) == rows:
                    return out.getvalue(), rows
    return out.getvalue(), len(seen)


def sample_feeds(paths: list[Path], *, one_item_in: int) -> tuple[list[tuple[str, str]], int, int]:
    """Every row of one item in `one_item_in` (chosen by a CRC of its key), from every feed:
    the first load's shape (the same files, the same rows per item) at a fraction of its size.
    Returns ([(warehouse code, CSV text with the feed's header)], rows, items)."""
    files, rows, keys = [], 0, set()
    for path in paths:
        out = io.StringIO()
        writer = csv.writer(out)
        with path.open(newline="") as handle:
            reader = csv.reader(handle)
            writer.writerow(next(reader))
            for row in reader:
                if zlib.crc32(f"{row[0]}|{row[1]}".encode()) % one_item_in == 0:
                    writer.writerow(row)
                    rows += 1
                    keys.add((row[0], row[1]))
        files.append((path.stem, out.getvalue()))
    return files, rows, len(keys)
