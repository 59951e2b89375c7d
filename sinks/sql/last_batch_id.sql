-- name: last_batch_id
-- grain: one row: the highest batch_id stored in records, loss or rejects (NULL when empty)
-- A writer numbers its transactions on from here (DuckLake prunes by the column's file
-- statistics, so this reads no data files).
SELECT max(b) FROM (
    SELECT max(batch_id) AS b FROM records
    UNION ALL SELECT max(batch_id) FROM loss
    UNION ALL SELECT max(batch_id) FROM rejects
);
