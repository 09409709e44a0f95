"""Benchmarks of the master inventory (issue 3): feed imports, catalog reads, the affiliate feed.

`python -m bench` (or `make bench`) builds a dedicated PostgreSQL database, generates synthetic
warehouse feeds under bench/data/, runs every measurement once and prints a table. Speed goals
live here, never in the tests. BENCHMARKS.md records the numbers of a full-size run.
"""
