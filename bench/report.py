"""The results table printed at the end of a run, and the JSON kept under bench/results/."""

import json
from datetime import datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
COLUMNS = ("measurement", "result", "x floor", "target", "met", "other cores")


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


def _import_rows(r: dict) -> list[tuple]:
    floor = r["floor"]
    floor_per_row = floor["seconds"] / floor["rows"]
    first, again, one, ie = r["first_load"], r["reimport_unchanged"], r["one_warehouse"], r["ie"]
    ie_full = r["ie_first_load"]
    ie_full_per_row = ie_full["seconds"] / ie_full["rows"]
    full_speedup = ie_full_per_row / (first["seconds"] / first["rows_read"])
    forced = r["reimport_unchanged_forced"]
    rewritten_forced = (
        forced["rows_rewritten_by_counts"],
        forced["rows_rewritten_by_pg_stat"],
    )
    first_per_row = first["seconds"] / first["rows_read"]
    ie_per_row = ie["seconds"] / ie["rows"]
    one_floor = floor_per_row * one["rows"]
    rewritten = (again["rows_rewritten_by_counts"], again["rows_rewritten_by_pg_stat"])
    speedup = ie_per_row / first_per_row
    return [
        ("(a) COPY floor, all files", f"{floor['seconds']:.2f} s, {floor['rows']:,} rows",
         "1.0x", "-", "-"),
        ("(b) import_feeds, first load", f"{first['seconds']:.2f} s, {first['rows_read']:,} rows",
         f"{first['seconds'] / floor['seconds']:.1f}x", "<= 10x floor",
         _met(first["seconds"] <= 10 * floor["seconds"])),
        ("(c) re-import, nothing changed, every row compared (--force)",
         f"{forced['seconds']:.2f} s", f"{forced['seconds'] / floor['seconds']:.1f}x",
         "<= 5x floor", _met(forced["seconds"] <= 5 * floor["seconds"])),
        ("    rows rewritten (counts / pg_stat)",
         f"{rewritten_forced[0]:,} / {rewritten_forced[1]:,}", "-", "0 / 0",
         _met(rewritten_forced == (0, 0))),
        ("(c) re-import, nothing changed (identical files recognised)",
         f"{again['seconds']:.2f} s", f"{again['seconds'] / floor['seconds']:.1f}x",
         "<= 5x floor", _met(again["seconds"] <= 5 * floor["seconds"])),
        ("    rows rewritten (counts / pg_stat)", f"{rewritten[0]:,} / {rewritten[1]:,}", "-",
         "0 / 0", _met(rewritten == (0, 0))),
        (f"(d) one warehouse ({one['warehouse']}, {one['rows']:,} rows, "
         f"{one['rows_changed_in_file']:,} changed)", f"{one['seconds']:.2f} s",
         f"{one['seconds'] / one_floor:.1f}x", "<= 2 s", _met(one["seconds"] <= 2)),
        (f"(e) django-import-export, {ie['rows']:,} rows",
         f"{ie_per_row * 1e6:.1f} us/row ({ie['seconds']:.2f} s)",
         f"{ie_per_row / floor_per_row:.0f}x", "(b) >= 50x faster per row",
         _met(speedup >= 50)),
        ("    (b) per row vs (e) per row", f"{first_per_row * 1e6:.2f} us vs "
         f"{ie_per_row * 1e6:.1f} us: (b) {speedup:.1f}x faster", "-", ">= 50x",
         _met(speedup >= 50)),
        (f"(e) import-export, first load's work, {ie_full['rows']:,} rows, "
         f"{ie_full['items']:,} items", f"{ie_full_per_row * 1e6:.1f} us/row "
         f"({ie_full['seconds']:.2f} s)", f"{ie_full_per_row / floor_per_row:.0f}x",
         "(b) >= 50x faster per row", _met(full_speedup >= 50)),
        ("    (b) per row vs that (e) per row", f"{first_per_row * 1e6:.2f} us vs "
         f"{ie_full_per_row * 1e6:.1f} us: (b) {full_speedup:.1f}x faster", "-", ">= 50x",
         _met(full_speedup >= 50)),
    ]  # fmt: skip


def _catalog_rows(r: dict) -> list[tuple]:
    rows = []
    names = {
        "prefix_search": "catalog: part-number prefix search",
        "exact_search": "catalog: exact part number",
        "deep_browse": f"catalog: browse page {r['catalog']['deep_browse']['depth']:,} rows deep",
    }
    for key, name in names.items():
        c = r["catalog"][key]
        index = "item_search_visible" if key != "deep_browse" else "item_browse_visible"
        used = "index used" if c[f"uses_{index}"] else f"{index} NOT used"
        rows.append(
            (f"{name} ({c['calls']} calls)",
             f"p50 {c['p50_ms']:.2f} ms, p95 {c['p95_ms']:.2f} ms ({used})", "-",
             "p95 <= 50 ms", _met(c["p95_ms"] <= 50))
        )  # fmt: skip
    return rows


def _export_rows(r: dict) -> list[tuple]:
    e = r["export"]
    peak = e["peak"]["vm_hwm_mib"]
    return [
        (f"affiliate feed export ({e['rows']:,} rows)", f"{e['rows_per_second']:,.0f} rows/s "
         f"({e['seconds']:.2f} s)", "-", ">= 200,000 rows/s",
         _met(e["rows_per_second"] >= 200_000)),
        ("    peak memory (VmHWM of the process)",
         f"{peak:.0f} MiB (after setup {e['baseline']['vm_hwm_mib']:.0f} MiB)", "-", "< 200 MB",
         _met(peak * 1024 * 1024 < 200_000_000)),
    ]  # fmt: skip


# Which measurement each table row comes from, for the CPU other processes used meanwhile.
ROW_SOURCES = (
    "floor", "first_load", "reimport_unchanged_forced", "reimport_unchanged_forced",
    "reimport_unchanged", "reimport_unchanged", "one_warehouse", "ie",
    "ie", "ie_first_load", "ie_first_load", "catalog", "catalog", "catalog", "export", "export",
)  # fmt: skip


def table(results: dict) -> str:
    body = [*_import_rows(results), *_catalog_rows(results), *_export_rows(results)]
    rows = [COLUMNS] + [
        (*row, f"{results[source].get('cpu', {}).get('other_cores', '-')}")
        for row, source in zip(body, ROW_SOURCES, strict=True)
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "| " + " | ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)) + " |"
        )
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def save(results: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"run-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"  # noqa: DTZ005
    path.write_text(json.dumps(results, indent=2, default=str))
    return path
