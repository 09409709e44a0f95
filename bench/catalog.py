"""Catalog page timings: prefix search, exact part number, a browse page 500,000 rows deep."""

import random
import statistics
import time

from bench import pgstats
from inventory.selectors import _encode_cursor, catalog_page

VISIBLE = "available_qty >= 2"


def _percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def _time_calls(affiliate, calls: list[dict]) -> dict:
    timings, found = [], 0
    for kwargs in calls:
        started = time.perf_counter()
        page = catalog_page(affiliate=affiliate, **kwargs)
        timings.append((time.perf_counter() - started) * 1000)
        found += bool(page.items)
    return {
        "calls": len(timings),
        "p50_ms": _percentile(timings, 0.50),
        "p95_ms": _percentile(timings, 0.95),
        "max_ms": max(timings),
        "mean_ms": statistics.fmean(timings),
        "calls_with_results": found,
    }


def _sample_part_numbers(count: int) -> list[tuple[str, str]]:
    """(part number as written, normalised) of `count` random items, visible or not."""
    pgstats.run("SELECT setseed(0.2016)")
    return pgstats.run(
        "SELECT part_number, part_number_norm FROM inventory_item ORDER BY random() LIMIT %s",
        [count],
    )


def _plan(affiliate, kwargs: dict) -> dict:
    with pgstats.capture_queries() as queries:
        catalog_page(affiliate=affiliate, **kwargs)
    sql, params = next((s, p) for s, p in queries if "inventory_item" in s)
    plan = pgstats.explain_analyze(sql, params)
    return {
        "plan": plan,
        "uses_item_search_visible": "item_search_visible" in plan,
        "uses_item_browse_visible": "item_browse_visible" in plan,
    }


def _deep_cursor(depth: int) -> tuple[str, int]:
    """The cursor after the `depth`-th visible item in browse order, and the depth used (less
    when fewer items are visible)."""
    visible = pgstats.run(f"SELECT count(*) FROM inventory_item WHERE {VISIBLE}")[0][0]  # noqa: S608
    depth = min(depth, max(visible - 100, 1))
    line_code, norm, item_id = pgstats.run(
        f"SELECT line_code, part_number_norm, id FROM inventory_item WHERE {VISIBLE} "  # noqa: S608
        "ORDER BY line_code, part_number_norm, id OFFSET %s LIMIT 1",
        [depth - 1],
    )[0]
    return _encode_cursor([line_code, norm, item_id]), depth


def measure_catalog(affiliate, *, calls: int, depth: int, seed: int) -> dict:
    rng = random.Random(seed)
    parts = _sample_part_numbers(2 * calls)
    prefixes = [
        norm[: rng.randint(min(3, len(norm)), min(6, len(norm)))] for _, norm in parts[:calls]
    ]
    exact = [written for written, _ in parts[calls:]]
    cursor, depth = _deep_cursor(depth)
    prefix_calls = [{"search": p} for p in prefixes]
    exact_calls = [{"search": p} for p in exact]
    deep_calls = [{"cursor": cursor}] * calls
    return {
        "prefix_search": {
            **_time_calls(affiliate, prefix_calls),
            **_plan(affiliate, prefix_calls[0]),
        },
        "exact_search": {**_time_calls(affiliate, exact_calls), **_plan(affiliate, exact_calls[0])},
        "deep_browse": {
            **_time_calls(affiliate, deep_calls),
            **_plan(affiliate, deep_calls[0]),
            "depth": depth,
        },
    }
