-- A memory-hungry SQLite workload for pagescope (programs/runs.txt), run against :memory:: it fills
-- a table with 40,000 generated rows through a recursive CTE, indexes it, aggregates over it,
-- deletes most of it and drops it again, so the page cache grows by several MiB and is freed.
-- Every value is computed from the row number (no random(), no dates), so the output is fixed.
.headers off
.mode list
CREATE TABLE item(id INTEGER PRIMARY KEY, bucket INTEGER, label TEXT, payload TEXT);
WITH RECURSIVE counter(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM counter WHERE n < 40000)
INSERT INTO item SELECT n, (n * 7919) % 997, printf('item-%06d', n),
       printf('%08x%08x%08x', (n * 2654435761) % 4294967296, (n * 40503) % 65536, n * n % 1000003)
  FROM counter;
CREATE INDEX item_bucket ON item(bucket, label);
SELECT count(*), sum(bucket), min(label), max(label), sum(length(payload)) FROM item;
SELECT bucket, count(*), min(id), max(id) FROM item GROUP BY bucket ORDER BY count(*) DESC, bucket LIMIT 5;
SELECT count(DISTINCT substr(payload, 1, 4)) FROM item;
DELETE FROM item WHERE id % 10 <> 0;
SELECT count(*), sum(id) FROM item;
DROP TABLE item;
SELECT 'done';
