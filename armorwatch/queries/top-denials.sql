-- name: top-denials
-- grain: one row per (lsm, profile, class, operation, object, denied permissions) denied in the window
-- param since: timestamp = 24h  -- only denials at or after this time
-- param until: timestamp = null  -- only denials at or before this time (null = up to the newest)
-- param host: text = null  -- only this host (null = every host)
-- param limit: integer = 50  -- rows to show
SELECT
    subject AS profile,  -- AppArmor profile, else SELinux scontext
    object_class AS class,  -- AppArmor class, else SELinux tclass
    operation,  -- AppArmor operation (open, exec, connect, ...)
    object,  -- the denied object
    coalesce(denied_mask, array_to_string(perms, ' ')) AS denied,  -- denied_mask or SELinux permissions
    count(*) AS denials,  -- denials in the window
    count(DISTINCT host) AS hosts,  -- hosts they happened on
    max(ts) AS last_seen  -- latest denial
FROM denials
WHERE ts >= $since
  AND ($until IS NULL OR ts <= $until)
  AND ($host IS NULL OR host = $host)
GROUP BY ALL
ORDER BY denials DESC, profile, object
LIMIT $limit;
