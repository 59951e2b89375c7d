-- name: report_complain
-- grain: one row per complain-mode (ALLOWED) signature of each profile, whole history
-- A profile is ready to enforce when none of its signatures is newer than N days:
-- the report decides that from first_seen; these rows are also the rules still missing.
SELECT
    subject,                                  -- profile in complain mode
    class,                                    -- mediation class
    operation,                                -- operation
    object,                                   -- accessed object
    mask,                                     -- permissions
    any_value(name) AS name,                  -- decoded path, for the risky-access list
    any_value(capname) AS capname,            -- capability name
    count(*) AS events,                       -- ALLOWED records with this signature
    count(DISTINCT host) AS hosts,            -- hosts that logged it
    timezone('UTC', min(ts)) AS first_seen,                  -- when this signature first appeared
    timezone('UTC', max(ts)) AS last_seen                   -- when it last appeared
FROM report_scope  -- the whole history up to the window's end, of its host: report_scope.sql
WHERE decision = 'allowed'
GROUP BY subject, class, operation, object, mask
-- the whole key last: ties in order on every run (DuckDB groups in parallel)
ORDER BY subject, events DESC, object, class, operation, mask;
