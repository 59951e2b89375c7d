-- name: report_complain
-- grain: one row per complain-mode (ALLOWED) signature of each profile, whole history
-- A profile is ready to enforce when none of its signatures is newer than N days:
-- the report decides that from first_seen; these rows are also the rules still missing.
WITH allowed AS (  -- the recent events one by one, the older ones per signature and host
    SELECT subject, class, operation, object, mask, host, name, capname,
           1 AS events, ts AS first_seen, ts AS last_seen
    FROM report_scope  -- the window and the one before it, of its host: report_scope.sql
    WHERE decision = 'allowed'
    UNION ALL
    SELECT subject, class, operation, object, mask, host, name, capname,
           events, first_seen, last_seen
    FROM report_history  -- what came before them: report_history.sql
    WHERE decision = 'allowed'
)
SELECT
    subject,                                  -- profile in complain mode
    class,                                    -- mediation class
    operation,                                -- operation
    object,                                   -- accessed object
    mask,                                     -- permissions
    any_value(name) AS name,                  -- decoded path, for the risky-access list
    any_value(capname) AS capname,            -- capability name
    sum(events)::BIGINT AS events,            -- ALLOWED records with this signature
    count(DISTINCT host) AS hosts,            -- hosts that logged it
    timezone('UTC', min(first_seen)) AS first_seen,          -- when this signature first appeared
    timezone('UTC', max(last_seen)) AS last_seen            -- when it last appeared
FROM allowed
GROUP BY subject, class, operation, object, mask
-- the whole key last: ties in order on every run (DuckDB groups in parallel)
ORDER BY subject, events DESC, object, class, operation, mask;
