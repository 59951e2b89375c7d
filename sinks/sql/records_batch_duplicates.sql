-- name: records_batch_duplicates
-- grain: one row: how many rows of the staged batch _stage repeat a rid of the same batch (0 normally)
SELECT count(*) - count(DISTINCT aw_record_rid(host, boot_id, ts, serial, record_type, raw))
FROM _stage;
