-- name: suggest_record
-- grain: one row per stored record whose rid starts with the given text (explain looks one up)
-- param rid: varchar  -- a record's rid or a prefix of it, lower-case hex without dashes
-- The columns explain shows and the byte-exact raw line it re-parses into a scratch store.
SELECT
    CAST(rid AS VARCHAR) AS rid, ts, host, source, lsm, apparmor, seresult, profile, operation, class, name,
    capname, denied_mask, requested_mask, comm, pid, suspect, raw
FROM records
WHERE starts_with(replace(CAST(rid AS VARCHAR), '-', ''), $rid)
ORDER BY rid
LIMIT 2
