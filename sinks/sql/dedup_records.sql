-- name: dedup_records
-- grain: DML: delete the later copies of each rid that records committed since $since hold
-- param since: timestamptz  -- the window: rows committed (ingested_at) at or after this
-- param lo: timestamptz  -- the window rows' min ts
-- param hi: timestamptz  -- the window rows' max ts
-- param null_ts: boolean  -- the window holds rows without ts
-- The safety net of several writers (sinks.duckdb, dedup_recent): two processors that
-- commit the same redelivered rows at the same time both pass the insert's anti-join.
-- Of the copies of a rid, the first committed (ingested_at, then batch_id, then DuckLake's
-- row id) stays. A stored copy of a window rid has the same ts (rid includes ts), so
-- only the window's ts range is compared, which DuckLake prunes by file statistics.
DELETE FROM records
WHERE rowid IN (
    SELECT row_id
    FROM (
        SELECT
            r.rowid AS row_id,
            row_number() OVER (
                PARTITION BY r.rid ORDER BY r.ingested_at, r.batch_id, r.rowid
            ) AS copy
        FROM records AS r
        WHERE (r.ts BETWEEN $lo AND $hi OR ($null_ts AND r.ts IS NULL))
          AND r.rid IN (SELECT w.rid FROM records AS w WHERE w.ingested_at >= $since)
    )
    WHERE copy > 1
);
