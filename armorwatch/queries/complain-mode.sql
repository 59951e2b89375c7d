-- name: complain-mode
-- grain: one row per (profile, class, operation, object) allowed by a complain-mode profile in the window
-- param since: timestamp = 24h  -- only events at or after this time
-- param until: timestamp = null  -- only events at or before this time (null = up to the newest)
-- param host: text = null  -- only this host (null = every host)
-- param limit: integer = 50  -- rows to show
SELECT
    subject AS profile,  -- the AppArmor profile in complain mode
    object_class AS class,  -- AppArmor class
    operation,  -- AppArmor operation
    object,  -- the object it would have denied in enforce mode
    requested_mask,  -- what was requested
    count(*) AS events,  -- events in the window
    count(DISTINCT host) AS hosts,  -- hosts they happened on
    max(ts) AS last_seen  -- latest event
FROM complain_events
WHERE ts >= $since
  AND ($until IS NULL OR ts <= $until)
  AND ($host IS NULL OR host::VARCHAR = $host)
GROUP BY ALL
ORDER BY events DESC, profile, object
LIMIT $limit;
