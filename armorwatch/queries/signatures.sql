-- name: signatures
-- grain: one row per (decision, profile, class, operation, object pattern, mask) in the window: what a rule would name
-- param since: timestamp = 24h  -- only records after this time
-- param until: timestamp = null  -- only records at or before this time (null = up to the newest)
-- param profile: text = null  -- only this profile or SELinux scontext (null = every one)
-- param host: text = null  -- only this host (null = every host)
-- param limit: integer = 1000  -- rows to show
-- The report's lists ("Showing 50 of 7001") point here for the rest. Trustworthy records only.
WITH ev AS (
    SELECT 'denied' AS decision, * FROM denials WHERE suspect IS NULL
    UNION ALL BY NAME
    SELECT 'allowed' AS decision, * FROM complain_events WHERE suspect IS NULL
)
SELECT
    decision,  -- denied | allowed (complain mode)
    coalesce(subject::VARCHAR, '(none)') AS profile,  -- AppArmor profile, else SELinux scontext
    object_class AS class,  -- mediation class
    operation,  -- open, exec, capable, ...
    object_pattern,  -- object with all-digit path components as '*'
    coalesce(denied_mask::VARCHAR, requested_mask::VARCHAR, array_to_string(perms, ' ')) AS mask,  -- permissions
    count(*) AS events,  -- records in the window
    count(DISTINCT host) AS hosts,  -- hosts they came from
    min(ts) AS first_ts,  -- first in the window
    max(ts) AS last_ts  -- latest
FROM ev
WHERE ts > $since
  AND ($until IS NULL OR ts <= $until)
  AND ($profile IS NULL OR subject::VARCHAR = $profile)
  AND ($host IS NULL OR host::VARCHAR = $host)
GROUP BY ALL
ORDER BY events DESC, profile, object_pattern
LIMIT $limit;
