-- name: dedup_loss
-- grain: DML: delete the later copies of each rid that loss rows committed since $since hold
-- param since: timestamptz  -- the window: rows committed (ingested_at) at or after this
-- As dedup_records.sql; loss is small, so the whole table is compared.
DELETE FROM loss
WHERE rowid IN (
    SELECT row_id
    FROM (
        SELECT
            t.rowid AS row_id,
            row_number() OVER (
                PARTITION BY t.rid ORDER BY t.ingested_at, t.batch_id, t.rowid
            ) AS copy
        FROM loss AS t
        WHERE t.rid IN (SELECT w.rid FROM loss AS w WHERE w.ingested_at >= $since)
    )
    WHERE copy > 1
);
