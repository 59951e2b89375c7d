-- name: insert_profile_state
-- grain: DML: insert the staged PROFILE_STATE_SCHEMA batch _stage into profile_state, once per distinct row
-- param ingested_at: timestamptz  -- when the store commits the row
-- param batch_id: bigint  -- the store transaction that commits it
-- param lo: timestamptz  -- the batch's earliest ts (readings carry the time they were taken)
-- param hi: timestamptz  -- the batch's latest ts
-- rid is md5 of every column, so a redelivered reading is stored once. The anti-join reads
-- only the batch's ts range, as records' does: the table grows by a reading per host every
-- few minutes, unlike loss and rejects.
INSERT INTO profile_state BY NAME
WITH s AS (
    SELECT DISTINCT ON (rid) *
    FROM (
        SELECT
            CAST(md5(concat(
                aw_part(epoch_ms(ts)), aw_part(host), aw_part(boot_id), aw_part(namespace),
                aw_part(profile), aw_part(mode))) AS UUID) AS rid,
            *
        FROM _stage
    )
)
SELECT
    $ingested_at AS ingested_at,
    $batch_id AS batch_id,
    *
FROM s
WHERE rid NOT IN (
    SELECT p.rid FROM profile_state AS p WHERE p.ts BETWEEN $lo AND $hi
);
