-- insert_records.sql for a batch that repeats a rid: keeps the first row of each rid.
-- Slower (the DISTINCT ON carries every column), so only used when needed.
-- Parameters: as insert_records.sql.
INSERT INTO records BY NAME
WITH s AS (
    SELECT DISTINCT ON (rid) *
    FROM (
        SELECT aw_record_rid(host, boot_id, ts, serial, record_type, raw) AS rid, *
        FROM _stage
    )
)
SELECT
    $ingested_at AS ingested_at,
    $batch_id AS batch_id,
    *
FROM s
WHERE rid NOT IN (SELECT r.rid FROM records AS r WHERE r.ts BETWEEN $lo AND $hi)
  AND rid NOT IN (SELECT r.rid FROM records AS r WHERE $null_ts AND r.ts IS NULL);
