"""Loading warehouse feeds into the master inventory: many files, one set-based pass.

A run stages every file first, each in its own savepoint. On PostgreSQL a file of printable ASCII
is first COPYed straight into a typed staging table whose CHECK constraints accept a row only when
its values are already in the exact form the Python checks of `fields` would keep as they are,
so that such a file needs no checking pass at all. A file that COPY refuses (one row is enough:
PostgreSQL 15 has no COPY ON_ERROR) is COPYed again as text into a second staging table and
checked there in SQL; only the rows SQL cannot vouch for go through the Python checks, so every
reason reads the same. A file PostgreSQL's CSV reader will not take whole (a row of the wrong
width, a blank line, bytes that are not UTF-8), or whose line count does not match its rows (a
line break inside quotes), is read by the Python reader instead; on SQLite every file is. A file
that is not a feed at all is rejected whole: its savepoint is rolled back and nothing of it stays.

Then the files that passed are applied together, in one transaction and under the inventory lock:
each row's item is looked up once, new items are inserted with their aggregates already summed
over the whole run, only stock rows whose values differ are written, and every other touched item
has its aggregates recomputed once, however many of the run's warehouses stock it. Into an empty
inventory (the first load) the secondary indexes and foreign keys are dropped for the load and
built again after it, as PostgreSQL's "Populating a Database" advises.

One module per stage, in the order `pipeline.run` takes them:
- `reading` (the file: text, encoding, header, CSV) and `fields` (one row's values checked);
- `staging` (a file into the staging tables: typed COPY, text COPY or the Python reader) and
  `parallel_staging` (a large run's typed COPYs over connections of their own);
- `sql_checks` (the COPYed rows checked in SQL, keys repeated within a file);
- `guards` (the rule that refuses a feed that would cost its warehouse stock);
- `applying` (the run written under the inventory lock): `first_load` into an empty inventory,
  `changes` into one that has items, both through `aggregates` (item stock, price).
`db` holds what they share on the database; `feed` the object they pass along.
"""
